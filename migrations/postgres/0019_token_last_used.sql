-- When a token (or a dashboard session made from it) was last used, written
-- at most once a minute per token and replica: what an admin needs to see
-- before revoking a token nobody seems to use.
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
