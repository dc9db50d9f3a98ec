-- relations loses its foreign key here too (SQLite: migration 0007): its
-- check cost a quarter of every relation row's insert. An entity's
-- relations are written by the transaction that processed it, which holds
-- its refresh_state row locked, and deleted explicitly by the transaction
-- that deletes that row, which locks it first (see lockRows): neither can
-- leave relations of a deleted entity behind.
ALTER TABLE relations DROP CONSTRAINT IF EXISTS relations_originating_eid_fkey;
