-- Revoking an EAB credential deactivates the accounts bound to it; without
-- this index that is a scan of every account.
CREATE INDEX acme_accounts_eab ON acme_accounts (eab_id);
