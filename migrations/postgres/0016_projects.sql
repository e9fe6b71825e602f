-- Projects become a managed resource: a description, the templates their
-- requests may use (JSON array of template ids; empty means any), and when
-- they last changed. Revocations record the operator's comment.
ALTER TABLE projects ADD COLUMN description TEXT;
ALTER TABLE projects ADD COLUMN allowed_templates TEXT NOT NULL DEFAULT '[]';
ALTER TABLE projects ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE projects SET updated_at = created_at;
ALTER TABLE certificates ADD COLUMN revoked_by TEXT;
ALTER TABLE certificates ADD COLUMN revocation_comment TEXT;
-- A replayed idempotent response keeps the original's headers (Location).
ALTER TABLE idempotency_keys ADD COLUMN headers TEXT;
