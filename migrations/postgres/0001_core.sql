-- Core: CAs, templates, projects, certificates, approvals, tokens, audit.
-- Portable types only (TEXT, BIGINT, BYTEA) so the SQLite and PostgreSQL
-- schemas stay line-for-line alike; timestamps are unix seconds.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE cas (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    parent_id TEXT REFERENCES cas(id),
    subject TEXT NOT NULL,
    key_type TEXT NOT NULL,
    cert_der BYTEA NOT NULL,
    key_sealed BYTEA NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    crl_number BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    default_template_id TEXT REFERENCES templates(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE certificates (
    id TEXT PRIMARY KEY,
    ca_id TEXT NOT NULL REFERENCES cas(id),
    serial TEXT,
    status TEXT NOT NULL,
    subject TEXT NOT NULL,
    common_name TEXT,
    sans TEXT NOT NULL,
    not_before BIGINT,
    not_after BIGINT,
    key_type TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    csr BYTEA,
    plan TEXT NOT NULL,
    der BYTEA,
    fingerprint TEXT,
    key_sealed BYTEA,
    template_id TEXT REFERENCES templates(id),
    project_id TEXT REFERENCES projects(id),
    channel TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    approvals_required BIGINT NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '{}',
    description TEXT,
    failure TEXT,
    revoked_at BIGINT,
    revocation_reason BIGINT,
    invalidity_date BIGINT,
    replaces_id TEXT REFERENCES certificates(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (ca_id, serial)
);
CREATE INDEX certificates_status ON certificates (status);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_project ON certificates (project_id);
CREATE INDEX certificates_fingerprint ON certificates (fingerprint);

CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    certificate_id TEXT NOT NULL REFERENCES certificates(id),
    approver TEXT NOT NULL,
    decision TEXT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (certificate_id, approver)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

-- Tamper-evident audit log: each row's hash covers the previous row's hash.
-- audit_head is the single row every writer locks, which serialises the
-- chain across replicas.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    severity TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
