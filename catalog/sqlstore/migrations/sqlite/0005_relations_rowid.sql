-- relations becomes a rowid table. As a WITHOUT ROWID table keyed by all
-- four columns, each of its two indexes held a full copy of every row, so
-- relations took three times their size; an index now holds its column and
-- the rowid. Rows are unique without a key: a transaction replaces all the
-- rows of an originating entity, and SQLite runs one writer at a time.
CREATE TABLE relations_rowid (
  originating_eid INTEGER NOT NULL REFERENCES refresh_state (eid) ON DELETE CASCADE,
  source_entity_ref TEXT NOT NULL,
  type TEXT NOT NULL,
  target_entity_ref TEXT NOT NULL
);
INSERT INTO relations_rowid (originating_eid, source_entity_ref, type, target_entity_ref)
  SELECT originating_eid, source_entity_ref, type, target_entity_ref FROM relations;
DROP TABLE relations;
ALTER TABLE relations_rowid RENAME TO relations;
CREATE INDEX relations_originating_eid_idx ON relations (originating_eid);
CREATE INDEX relations_source_entity_ref_idx ON relations (source_entity_ref);
CREATE INDEX relations_target_entity_ref_idx ON relations (target_entity_ref);
