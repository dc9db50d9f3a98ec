CREATE TABLE scaffolder_tasks (
  id TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_heartbeat_at BIGINT,
  created_by TEXT,
  secrets TEXT,
  steps TEXT,
  claimed_by TEXT,
  lease_until BIGINT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX scaffolder_tasks_status_created ON scaffolder_tasks (status, created_at);
CREATE INDEX scaffolder_tasks_created_by ON scaffolder_tasks (created_by);
CREATE TABLE scaffolder_task_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL REFERENCES scaffolder_tasks (id) ON DELETE CASCADE,
  event_type TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX scaffolder_task_events_task ON scaffolder_task_events (task_id, id);
