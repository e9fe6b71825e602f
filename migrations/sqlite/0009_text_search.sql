-- Substring search on common_name and SANs for the REST list. A LIKE '%x%'
-- cannot use a b-tree index, so on 1M rows it was a full scan (~130 ms).
-- An FTS5 trigram index answers the same LIKE (case-insensitive, as SQLite's
-- LIKE is) from the index for patterns of three or more characters.
CREATE VIRTUAL TABLE certificates_text USING fts5(
    common_name, sans,
    content = 'certificates', content_rowid = 'rowid',
    tokenize = 'trigram'
);
INSERT INTO certificates_text (certificates_text) VALUES ('rebuild');

CREATE TRIGGER certificates_text_insert AFTER INSERT ON certificates
BEGIN
    INSERT INTO certificates_text (rowid, common_name, sans)
    VALUES (NEW.rowid, NEW.common_name, NEW.sans);
END;

CREATE TRIGGER certificates_text_delete AFTER DELETE ON certificates
BEGIN
    INSERT INTO certificates_text (certificates_text, rowid, common_name, sans)
    VALUES ('delete', OLD.rowid, OLD.common_name, OLD.sans);
END;

CREATE TRIGGER certificates_text_update AFTER UPDATE OF common_name, sans ON certificates
BEGIN
    INSERT INTO certificates_text (certificates_text, rowid, common_name, sans)
    VALUES ('delete', OLD.rowid, OLD.common_name, OLD.sans);
    INSERT INTO certificates_text (rowid, common_name, sans)
    VALUES (NEW.rowid, NEW.common_name, NEW.sans);
END;
