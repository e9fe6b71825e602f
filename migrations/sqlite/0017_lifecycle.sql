-- The certificate lifecycle: renewal by the scheduler, delivery to rotation
-- targets, and notifications, each recorded so that a restart or a second
-- replica neither repeats nor forgets one.
ALTER TABLE certificates ADD COLUMN renew_before TEXT;
-- scheduled | renewing | queued | renewed | failed (NULL: not yet scheduled)
ALTER TABLE certificates ADD COLUMN renewal_status TEXT;
ALTER TABLE certificates ADD COLUMN next_renewal_at BIGINT;
ALTER TABLE certificates ADD COLUMN last_renew_attempt_at BIGINT;
ALTER TABLE certificates ADD COLUMN last_renew_error TEXT;
ALTER TABLE certificates ADD COLUMN renew_failures BIGINT NOT NULL DEFAULT 0;
-- The successor the scheduler (or POST /renew) requested.
ALTER TABLE certificates ADD COLUMN renewed_by TEXT;
-- JSON: {"enabled": bool, "include_key": bool}
ALTER TABLE certificates ADD COLUMN rotation_config TEXT;
CREATE INDEX certificates_renewal ON certificates (next_renewal_at) WHERE auto_renew = 1 AND status = 'active';
CREATE INDEX certificates_replaces ON certificates (replaces_id) WHERE replaces_id IS NOT NULL;
ALTER TABLE projects ADD COLUMN notify_email TEXT NOT NULL DEFAULT '[]';

CREATE TABLE rotation_targets (
    id TEXT PRIMARY KEY,
    -- The newest certificate of the line: moved to each successor.
    certificate_id TEXT NOT NULL REFERENCES certificates(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- JSON, per kind (file: directory and file names and modes; webhook: url).
    config TEXT NOT NULL,
    include_key BIGINT NOT NULL DEFAULT 0,
    -- webhook: the HMAC key, sealed like private keys.
    secret_sealed BLOB,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rotation_targets_certificate ON rotation_targets (certificate_id);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    target_id TEXT NOT NULL REFERENCES rotation_targets(id) ON DELETE CASCADE,
    certificate_id TEXT NOT NULL REFERENCES certificates(id),
    -- renewal | sync | trigger
    reason TEXT NOT NULL,
    -- pending | succeeded | failed
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    http_status BIGINT,
    error TEXT,
    duration_ms BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_target ON deliveries (target_id, created_at);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    -- expiring | renewal_succeeded | renewal_failed | approval_pending | revoked
    event TEXT NOT NULL,
    certificate_id TEXT NOT NULL,
    -- Days before notAfter for expiring; 0 for the others.
    threshold_days BIGINT NOT NULL,
    -- email | webhook
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    recipients TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    UNIQUE (event, certificate_id, threshold_days, channel)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
