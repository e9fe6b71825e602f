-- Indexes that match the REST list's keyset orders, so a filtered page is an
-- index walk instead of a sort over every matching row.
CREATE INDEX certificates_status_id ON certificates (status, id);
CREATE INDEX certificates_not_after_id ON certificates ((COALESCE(not_after, 0)), id);
CREATE INDEX certificates_status_not_after_id ON certificates (status, (COALESCE(not_after, 0)), id);
