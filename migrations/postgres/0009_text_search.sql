-- Substring search on common_name and SANs for the REST list: trigram GIN
-- indexes let the planner answer ILIKE '%x%' without a full scan. pg_trgm
-- ships with PostgreSQL and is a trusted extension (a database owner may
-- create it); where it is not available the list still works, by a scan.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX certificates_common_name_trgm ON certificates USING gin (common_name gin_trgm_ops);
    CREATE INDEX certificates_sans_trgm ON certificates USING gin (sans gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%): substring search on certificates scans', SQLERRM;
END
$$;
