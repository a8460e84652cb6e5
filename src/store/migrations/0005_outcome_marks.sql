-- Subjects whose outcomes must be recomputed: written in the same statement or transaction as the
-- trial-record change that makes them stale; the outcomes stage consumes them (SKIP LOCKED).
CREATE TABLE outcome_marks (
  research_subject_id text PRIMARY KEY,
  marked_at timestamptz NOT NULL DEFAULT now(),
  changes integer NOT NULL DEFAULT 1
);
