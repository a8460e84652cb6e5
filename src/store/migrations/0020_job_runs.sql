-- One row per scheduled job and slot (the cron fire time): the instance that inserts it first runs
-- that slot, every other instance sees the conflict and skips it. The rows are also the job history
-- admins read at GET /admin/jobs.
CREATE TABLE job_runs (
  job_name text NOT NULL,
  slot timestamptz NOT NULL,
  instance_id text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  error text,
  PRIMARY KEY (job_name, slot)
);
CREATE INDEX job_runs_failed ON job_runs (job_name, slot) WHERE status = 'failed';
