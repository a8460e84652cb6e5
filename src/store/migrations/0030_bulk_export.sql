-- Bulk Data $export jobs, durable so that any instance can run or resume them: a job is claimed
-- with FOR UPDATE SKIP LOCKED under a time-limited lease, and every batch commits its output chunk
-- together with the job's cursor, so a job taken over after a crash continues exactly where the
-- last committed batch ended (no lost or doubled lines).
CREATE TABLE bulk_export_jobs (
  job_id text PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  -- The kick-off URL, echoed in the manifest's `request`.
  request_url text NOT NULL,
  -- Who asked: only this client may poll or download; the role decides masking.
  client_id text NOT NULL,
  role text NOT NULL,
  -- What to export (level, types, _since, _typeFilter, group members), as JSON.
  spec text NOT NULL,
  transaction_time timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  lease_owner text,
  lease_until timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  -- Resume point: index into the spec's types and the last created_seq written for that type.
  type_index integer NOT NULL DEFAULT 0,
  after_seq bigint NOT NULL DEFAULT 0,
  exported bigint NOT NULL DEFAULT 0,
  error text,
  completed_at timestamptz,
  expires_at timestamptz NOT NULL,
  last_polled_at timestamptz
);
CREATE INDEX bulk_export_jobs_runnable ON bulk_export_jobs (created_at) WHERE status IN ('queued', 'running');

-- One output file per resource type (kind 'output'), plus OperationOutcome files (kind 'error').
CREATE TABLE bulk_export_files (
  job_id text NOT NULL REFERENCES bulk_export_jobs (job_id) ON DELETE CASCADE,
  file_no integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('output', 'error')),
  resource_type text NOT NULL,
  resource_count bigint NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  chunks integer NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, file_no)
);

-- File contents in the database (every instance can serve every file): NDJSON text in chunks of
-- one batch each, streamed back chunk by chunk.
CREATE TABLE bulk_export_chunks (
  job_id text NOT NULL,
  file_no integer NOT NULL,
  chunk_no integer NOT NULL,
  content text NOT NULL,
  PRIMARY KEY (job_id, file_no, chunk_no),
  FOREIGN KEY (job_id, file_no) REFERENCES bulk_export_files (job_id, file_no) ON DELETE CASCADE
);
