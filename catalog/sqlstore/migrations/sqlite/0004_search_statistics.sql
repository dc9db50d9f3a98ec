-- PostgreSQL's migration 0004 adds planner statistics SQLite has no
-- equivalent of; kept so that both dialects number their migrations alike.
SELECT 1;
