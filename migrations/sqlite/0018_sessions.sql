-- Browser sessions of the web dashboard: a token is exchanged for an
-- HttpOnly cookie. Only the cookie's hash is stored; the session acts with
-- the permissions of the token it came from, and ends with it.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    token_id TEXT NOT NULL REFERENCES api_tokens(id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
