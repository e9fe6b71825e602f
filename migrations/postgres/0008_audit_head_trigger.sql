-- The audit head follows each appended event, in the INSERT itself: one
-- statement (one network round trip) fewer per event.
CREATE FUNCTION audit_head_follows() RETURNS trigger AS $$
BEGIN
    UPDATE audit_head SET hash = NEW.hash WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_head_follows();
