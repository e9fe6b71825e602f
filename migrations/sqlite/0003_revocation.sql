-- Published CRLs (full and delta share one number sequence per CA: cas.crl_number).
CREATE TABLE crls (
    ca_id TEXT NOT NULL REFERENCES cas(id),
    number BIGINT NOT NULL,
    kind TEXT NOT NULL,
    base_number BIGINT,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    -- Shard number for partitioned CRLs (Issuing Distribution Point); NULL for the complete CRL.
    shard BIGINT,
    der BLOB NOT NULL,
    PRIMARY KEY (ca_id, number)
);
CREATE INDEX crls_latest ON crls (ca_id, kind, shard, number);

-- When a certificateHold was lifted: the next delta lists it as removeFromCRL.
ALTER TABLE certificates ADD COLUMN unrevoked_at BIGINT;
-- The CRL shard named in the certificate's CRLDP, fixed at issuance.
ALTER TABLE certificates ADD COLUMN crl_shard BIGINT;
CREATE INDEX certificates_revoked ON certificates (ca_id, status, revoked_at);
