-- Subjects whose outcome recomputation failed: the error, how often, and when to try again. Their
-- marks stay in outcome_marks (so nothing is lost) but are not claimed before retry_at, so one
-- failing subject never blocks the others (issue 17). A success removes the row.
CREATE TABLE outcome_failures (
  research_subject_id text PRIMARY KEY,
  attempts integer NOT NULL,
  last_error text NOT NULL,
  failed_at timestamptz NOT NULL DEFAULT now(),
  retry_at timestamptz NOT NULL
);
