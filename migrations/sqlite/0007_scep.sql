-- SCEP: one-time challenges minted by the API, and transactions so that a
-- device polling (CertPoll, or re-sending its PKCSReq) finds its request.
CREATE TABLE scep_challenges (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    -- Optional binding: the CSR must carry this CN and these SANs (JSON list).
    subject_cn TEXT,
    sans TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT
);

CREATE TABLE scep_transactions (
    profile TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    certificate_id TEXT NOT NULL,
    csr_sha256 TEXT NOT NULL,
    -- A final answer (SUCCESS or FAILURE) has been sent: a new request with
    -- the same transactionID is then a new transaction.
    delivered BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (profile, transaction_id)
);
