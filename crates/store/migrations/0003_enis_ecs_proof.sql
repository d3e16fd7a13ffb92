-- What says ECS made an interface (see EniFact::ecs_proof); NULL: only its description claims an
-- ECS attachment. Registers written before keep NULL and their attachment links as they were.
ALTER TABLE enis ADD COLUMN ecs_proof TEXT;
