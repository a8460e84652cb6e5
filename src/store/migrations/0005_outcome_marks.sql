-- Subjects whose outcomes must be recomputed, appended in the same statement or transaction as the
-- trial-record change that makes them stale. Append-only (no upsert), so concurrent feeds marking
-- the same subject never wait on each other's row locks; the outcomes stage takes distinct subjects
-- and deletes the marks it has handled.
CREATE TABLE outcome_marks (
  mark_id bigserial PRIMARY KEY,
  research_subject_id text NOT NULL,
  marked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcome_marks_subject ON outcome_marks (research_subject_id);
