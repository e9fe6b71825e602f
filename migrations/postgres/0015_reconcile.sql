-- When an order entered `processing`, so that one left there by a crash is
-- found (and finished or failed) instead of waiting forever.
ALTER TABLE acme_orders ADD COLUMN processing_at BIGINT;
UPDATE acme_orders SET processing_at = 0 WHERE status = 'processing';
CREATE INDEX acme_orders_processing ON acme_orders (processing_at) WHERE status = 'processing';
-- Background jobs that must run on one replica at a time hold a lease.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
