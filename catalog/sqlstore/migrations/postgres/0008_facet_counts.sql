-- Facet counts per search key, entity kind and shown value, kept up to date
-- by the store as it writes search rows, for the keys the stock frontend
-- asks facets of (facetKeys in facets.go; the two lists must agree). A
-- catalog ingested before gets its counts here.
CREATE TABLE facet_counts (
  key_id BIGINT NOT NULL,
  kind TEXT COLLATE "C" NOT NULL,
  value TEXT COLLATE "C" NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (key_id, kind, value)
);
INSERT INTO search_keys (key) VALUES ('kind'), ('spec.type'), ('spec.lifecycle'), ('metadata.tags'), ('metadata.namespace'), ('relations.ownedby')
  ON CONFLICT (key) DO NOTHING;
INSERT INTO facet_counts (key_id, kind, value, n)
SELECT s.key_id, COALESCE(k.value, ''), COALESCE(s.original_value, s.value), count(*)
FROM search s
LEFT JOIN search k ON k.eid = s.eid AND k.key_id = (SELECT id FROM search_keys WHERE key = 'kind')
WHERE s.value IS NOT NULL
  AND s.key_id IN (SELECT id FROM search_keys WHERE key IN ('kind', 'spec.type', 'spec.lifecycle', 'metadata.tags', 'metadata.namespace', 'relations.ownedby'))
GROUP BY s.key_id, COALESCE(k.value, ''), COALESCE(s.original_value, s.value);
