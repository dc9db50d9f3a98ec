-- relations' primary key (the originating entity and the relation's three
-- columns) is replaced by an index on the originating entity alone. No
-- write relies on its uniqueness: an entity's relations are deduplicated
-- before they are written, by the transaction that holds its refresh_state
-- row locked, and replaced as a whole (Backstage's own table has no such
-- key either). Its reads, an entity's relations by originating_eid, need
-- only that column, which an index holds in a fraction of the space
-- (deduplicated), while the key repeated three text columns per relation
-- and was one of the three indexes every relation's insert wrote.
CREATE INDEX IF NOT EXISTS relations_originating_eid_idx ON relations (originating_eid);
ALTER TABLE relations DROP CONSTRAINT IF EXISTS relations_pkey;
