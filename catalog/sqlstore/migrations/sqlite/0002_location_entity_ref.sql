-- The ref of a registered location's Location entity, fixed at
-- registration (Backstage's location_entity_ref): updating the target keeps
-- it. NULL on rows registered before it existed, whose ref is generated
-- from their type and target.
ALTER TABLE locations ADD COLUMN location_entity_ref TEXT;
