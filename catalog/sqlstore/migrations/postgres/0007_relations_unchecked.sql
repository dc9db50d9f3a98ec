-- SQLite's migration 0007 drops the foreign key of relations to spare its
-- statement journal; PostgreSQL journals no statements and keeps the key.
-- Kept so that both dialects number their migrations alike.
SELECT 1;
