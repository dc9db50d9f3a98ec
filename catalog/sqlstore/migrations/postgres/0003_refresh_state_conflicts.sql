-- conflicts holds, for an entity that emitted others, the ConflictErrors of
-- the emitted entities another location already owns. Unlike errors it is
-- never stitched into the entity (Backstage only logs conflicts); the
-- unprocessed-entities API reports it.
ALTER TABLE refresh_state ADD COLUMN conflicts TEXT COLLATE "C" NOT NULL DEFAULT '[]';
