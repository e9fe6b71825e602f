-- When a validation started: a challenge left 'processing' by a replica that
-- died mid-validation can be restarted once this is older than any attempt.
ALTER TABLE acme_challenges ADD COLUMN processing_since BIGINT;
