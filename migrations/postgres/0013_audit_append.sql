-- Appending an audit event in one statement: take the head, hash, insert.
-- Every audited write holds the head's row lock from taking it until its
-- COMMIT, across replicas; done from the application that was two network
-- round trips (the UPDATE … RETURNING, then the INSERT), now it is one.
-- The hash must equal chain_hash in src/store/audit.rs, which verifies the
-- chain: SHA-256 over each part as an 8-byte big-endian byte length and
-- then its UTF-8 bytes, in lower-case hex.
CREATE FUNCTION audit_part(t TEXT) RETURNS BYTEA AS $$
    SELECT int8send(octet_length(convert_to(t, 'UTF8'))::BIGINT) || convert_to(t, 'UTF8')
$$ LANGUAGE sql IMMUTABLE STRICT;

CREATE FUNCTION audit_append(p_at BIGINT, p_actor TEXT, p_action TEXT, p_target TEXT,
                             p_severity TEXT, p_request_id TEXT, p_details TEXT)
RETURNS BIGINT AS $$
DECLARE
    s BIGINT;
    prev TEXT;
BEGIN
    UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash INTO s, prev;
    -- audit_head_follows (0008) moves the head's hash on this INSERT.
    INSERT INTO audit_events (seq, at, actor, action, target, severity, request_id, details, prev_hash, hash)
    VALUES (s, p_at, p_actor, p_action, p_target, p_severity, p_request_id, p_details, prev,
            encode(sha256(audit_part(prev) || audit_part(s::TEXT) || audit_part(p_at::TEXT)
                          || audit_part(p_actor) || audit_part(p_action)
                          || audit_part(COALESCE(p_target, '')) || audit_part(p_severity)
                          || audit_part(p_details)), 'hex'));
    RETURN s;
END;
$$ LANGUAGE plpgsql;
