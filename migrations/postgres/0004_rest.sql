-- REST API: certificate metadata, archiving, idempotency.
ALTER TABLE certificates ADD COLUMN auto_renew BIGINT NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN archived_from TEXT;
CREATE INDEX certificates_common_name ON certificates (common_name);

-- POST responses kept for 24 h per (token, Idempotency-Key).
CREATE TABLE idempotency_keys (
    token_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (token_id, key)
);
