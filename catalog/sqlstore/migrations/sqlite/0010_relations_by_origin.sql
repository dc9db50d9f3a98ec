-- PostgreSQL's relations trade their primary key for an index on the
-- originating entity; SQLite's table is clustered on that key.
SELECT 1;
