-- The audit head follows each appended event, in the INSERT itself: one
-- statement fewer per event than updating the head separately.
CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_events
BEGIN
    UPDATE audit_head SET hash = NEW.hash WHERE id = 1;
END;
