-- Stitching reads every relation of the entities it stitches, by source
-- and in (source, type, target) order. On the source-only index that read
-- fetches each relation row from the table, at random: at 250,000
-- entities, 2.4 million rows read from disk for most of an ingest. The
-- index holding the three columns answers it from the index alone (and
-- serves lookups by source as well, so it replaces that index).
CREATE INDEX relations_source_type_target_idx ON relations (source_entity_ref, type, target_entity_ref);
DROP INDEX relations_source_entity_ref_idx;
