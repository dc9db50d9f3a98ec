-- Filters probe search by (key_id, value), and how many rows a pair
-- matches decides between walking an ordered index and collecting the
-- matches: 'service' is common under spec.type and rare elsewhere. Per
-- column statistics multiply the two frequencies and miss that by orders of
-- magnitude; the pairs' own most-common-values list does not.
CREATE STATISTICS IF NOT EXISTS search_key_value_stats (mcv) ON key_id, value FROM search;

-- Facets count COALESCE(original_value, value) over every row of a key:
-- with original_value in the index they read the index alone, in value
-- order, instead of fetching each row from the table (or scanning the
-- whole table, which the planner prefers for a key every entity has).
-- original_value is NULL for most rows, so the index grows little.
CREATE INDEX IF NOT EXISTS search_key_value_eid_orig_idx ON search (key_id, value, eid) INCLUDE (original_value);
DROP INDEX IF EXISTS search_key_value_eid_idx;
