-- PostgreSQL's migration 0006 widens the relations index on source so
-- that stitching reads relations from the index alone; SQLite's 0005
-- already chose its relations indexes. Kept so that both dialects number
-- their migrations alike.
SELECT 1;
