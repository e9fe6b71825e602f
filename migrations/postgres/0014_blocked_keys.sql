-- Public keys revoked for keyCompromise: never certified again, on any
-- channel (the SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex).
CREATE TABLE blocked_keys (
    spki_sha256 TEXT PRIMARY KEY,
    certificate_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
