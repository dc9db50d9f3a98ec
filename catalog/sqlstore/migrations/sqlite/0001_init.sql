CREATE TABLE locations (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  target TEXT NOT NULL,
  UNIQUE (type, target)
);

-- eid is the internal integer key of an entity (its rowid here): search and
-- final_entities hang off it, so their rows and indexes carry a few bytes
-- instead of the 36-character uid. New rows get ascending eids in the
-- order their (time-ordered) uids were made, so eid order is uid order.
CREATE TABLE refresh_state (
  eid INTEGER PRIMARY KEY,
  entity_id TEXT NOT NULL UNIQUE,
  entity_ref TEXT NOT NULL UNIQUE,
  unprocessed_entity TEXT NOT NULL,
  unprocessed_hash TEXT NOT NULL DEFAULT '',
  processed_entity TEXT,
  result_hash TEXT NOT NULL DEFAULT '',
  errors TEXT NOT NULL DEFAULT '[]',
  location_key TEXT,
  next_update_at BIGINT NOT NULL,
  last_discovery_at BIGINT NOT NULL
);
CREATE INDEX refresh_state_next_update_at_idx ON refresh_state (next_update_at);

CREATE TABLE refresh_state_references (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source_key TEXT,
  source_entity_ref TEXT REFERENCES refresh_state (entity_ref) ON DELETE CASCADE,
  target_entity_ref TEXT NOT NULL REFERENCES refresh_state (entity_ref) ON DELETE CASCADE
);
CREATE INDEX refresh_state_references_source_key_idx ON refresh_state_references (source_key);
CREATE INDEX refresh_state_references_source_entity_ref_idx ON refresh_state_references (source_entity_ref);
CREATE INDEX refresh_state_references_target_entity_ref_idx ON refresh_state_references (target_entity_ref);

-- Clustered by originating entity, whose rows are replaced together; one
-- originator emits each relation once.
CREATE TABLE relations (
  originating_eid INTEGER NOT NULL REFERENCES refresh_state (eid) ON DELETE CASCADE,
  source_entity_ref TEXT NOT NULL,
  type TEXT NOT NULL,
  target_entity_ref TEXT NOT NULL,
  PRIMARY KEY (originating_eid, source_entity_ref, type, target_entity_ref)
) WITHOUT ROWID;
CREATE INDEX relations_source_entity_ref_idx ON relations (source_entity_ref);
CREATE INDEX relations_target_entity_ref_idx ON relations (target_entity_ref);

CREATE TABLE final_entities (
  eid INTEGER PRIMARY KEY REFERENCES refresh_state (eid) ON DELETE CASCADE,
  entity_id TEXT NOT NULL UNIQUE,
  entity_ref TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL,
  final_entity TEXT NOT NULL,
  last_updated_at BIGINT NOT NULL
);

-- search has no foreign key: checking one for each of its many rows costs
-- more than deleting them explicitly with their entity (deleteEntities),
-- and its rows are written in the transaction that writes their
-- final_entities row, whose key checks that the entity still exists.

-- Search keys are interned: a few dozen distinct keys, some 50 characters
-- long, would otherwise be repeated in every row and index entry.
CREATE TABLE search_keys (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE
);

-- Clustered by entity: per-entity probes (EXISTS filters) and deletes on
-- restitch read the table itself, so it needs no second index. seq numbers
-- an entity's rows, which may repeat a (key, value) pair.
CREATE TABLE search (
  eid INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  value TEXT,
  original_value TEXT, -- NULL where equal to value
  PRIMARY KEY (eid, key_id, seq)
) WITHOUT ROWID;
-- filters and ordered scans by key (value order, then eid for keyset ties)
CREATE INDEX search_key_value_eid_idx ON search (key_id, value, eid);

CREATE TABLE stitch_queue (
  entity_ref TEXT PRIMARY KEY,
  stitch_ticket TEXT NOT NULL,
  next_stitch_at BIGINT NOT NULL
);
CREATE INDEX stitch_queue_next_stitch_at_idx ON stitch_queue (next_stitch_at);

-- generation is bumped by every write to final_entities/search; readers key
-- cached counts and facets on it.
CREATE TABLE catalog_generation (
  id INTEGER PRIMARY KEY,
  generation BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);
