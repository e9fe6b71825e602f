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

-- Long-running requests answered 202 with Location: /api/v1/operations/{id}.
CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    token_id TEXT NOT NULL,
    result TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
