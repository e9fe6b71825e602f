-- ACME (RFC 8555): nonces, EAB credentials, accounts, orders, authorizations, challenges.
CREATE TABLE acme_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX acme_nonces_expiry ON acme_nonces (expires_at);

CREATE TABLE eab_credentials (
    id TEXT PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    hmac_sealed BLOB NOT NULL,
    project_id TEXT REFERENCES projects(id),
    template_id TEXT REFERENCES templates(id),
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    account_id TEXT,
    revoked_at BIGINT
);

CREATE TABLE acme_accounts (
    id TEXT PRIMARY KEY,
    thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    status TEXT NOT NULL,
    contact TEXT NOT NULL,
    eab_id TEXT REFERENCES eab_credentials(id),
    project_id TEXT REFERENCES projects(id),
    template_id TEXT REFERENCES templates(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE acme_orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    status TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    template_id TEXT NOT NULL REFERENCES templates(id),
    profile TEXT,
    expires_at BIGINT NOT NULL,
    certificate_id TEXT REFERENCES certificates(id),
    replaces_id TEXT REFERENCES certificates(id),
    replaces TEXT,
    error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id);
CREATE INDEX acme_orders_certificate ON acme_orders (certificate_id);
CREATE INDEX acme_orders_replaces ON acme_orders (replaces_id);

CREATE TABLE acme_authzs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    identifier_type TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    wildcard BIGINT NOT NULL,
    status TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX acme_authzs_reuse ON acme_authzs (account_id, identifier_type, identifier_value);

-- Orders and authorizations are many-to-many once authorizations are reused.
CREATE TABLE acme_order_authzs (
    order_id TEXT NOT NULL REFERENCES acme_orders(id),
    authz_id TEXT NOT NULL REFERENCES acme_authzs(id),
    position BIGINT NOT NULL,
    PRIMARY KEY (order_id, authz_id)
);
CREATE INDEX acme_order_authzs_authz ON acme_order_authzs (authz_id);

CREATE TABLE acme_challenges (
    id TEXT PRIMARY KEY,
    authz_id TEXT NOT NULL REFERENCES acme_authzs(id),
    type TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    validated_at BIGINT,
    error TEXT
);
CREATE INDEX acme_challenges_authz ON acme_challenges (authz_id);
