-- relations loses its foreign key, as search has none: a multi-row insert
-- into a table with an immediate foreign key makes SQLite copy every page
-- it changes into a statement journal first, which at 100,000 entities
-- cost more than the insert itself. deleteEntities deletes an entity's
-- relations with it, in the transaction that deletes its refresh_state
-- row; CompleteProcessing writes them in the transaction that reads the
-- entity's eid, and SQLite runs one writer at a time.
CREATE TABLE relations_unchecked (
  originating_eid INTEGER NOT NULL,
  source_entity_ref TEXT NOT NULL,
  type TEXT NOT NULL,
  target_entity_ref TEXT NOT NULL
);
INSERT INTO relations_unchecked (originating_eid, source_entity_ref, type, target_entity_ref)
  SELECT originating_eid, source_entity_ref, type, target_entity_ref FROM relations ORDER BY rowid;
DROP TABLE relations;
ALTER TABLE relations_unchecked RENAME TO relations;
CREATE INDEX relations_originating_eid_idx ON relations (originating_eid);
CREATE INDEX relations_source_entity_ref_idx ON relations (source_entity_ref);
CREATE INDEX relations_target_entity_ref_idx ON relations (target_entity_ref);
