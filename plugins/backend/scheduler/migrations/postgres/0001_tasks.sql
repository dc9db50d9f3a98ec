-- The lease row of each global task: which replica runs it, until when, and
-- when it is next due. IF NOT EXISTS: databases from before this migration
-- already hold the table (the scheduler used to create it itself).
CREATE TABLE IF NOT EXISTS understage_scheduler_tasks (
  id TEXT PRIMARY KEY,
  next_run_at BIGINT NOT NULL,
  locked_by TEXT,
  locked_until BIGINT
);
