-- Every certificate insert and status change writes each index on the table.
-- These two serve no query: certificates_status_id (status, id) answers every
-- status lookup (the planner already preferred it), and common_name is only
-- searched by substring (the trigram index) or sorted as
-- COALESCE(common_name, ''), which a plain index on the column cannot serve.
DROP INDEX certificates_status;
DROP INDEX certificates_common_name;
