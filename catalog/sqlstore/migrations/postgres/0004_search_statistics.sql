-- Filters probe search by (key_id, value), and how many rows a pair
-- matches decides between walking an ordered index and collecting the
-- matches: 'service' is common under spec.type and rare elsewhere. Per
-- column statistics multiply the two frequencies and miss that by orders of
-- magnitude; the pairs' own most-common-values list does not.
CREATE STATISTICS IF NOT EXISTS search_key_value_stats (mcv) ON key_id, value FROM search;
