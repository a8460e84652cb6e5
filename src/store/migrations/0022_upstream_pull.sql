-- Per enrolled subject: whether the baseline backfill from upstream is done, and the upstream
-- meta.lastUpdated up to which results have been pulled (the incremental cursor).
CREATE TABLE upstream_pull_cursors (
  research_subject_id text PRIMARY KEY,
  patient_id text NOT NULL,
  last_updated text,
  backfilled_at timestamptz,
  pulled_at timestamptz,
  last_error text
);
