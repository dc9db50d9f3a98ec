-- SQLite's migration 0005 turns relations into a rowid table; PostgreSQL's
-- heap tables already keep their indexes apart from the rows. Kept so that
-- both dialects number their migrations alike.
SELECT 1;
