-- MeasureReport groups (arm, visit, kind) whose summary rows changed in a batch that left their
-- recount to a later one (issue 20): during a bulk recomputation every batch touched every group,
-- and recounting them all per batch read every summary row so far, quadratic in the subjects.
-- The batch that recounts takes the rows in its transaction, after the study's MeasureReport lock.
-- No key: batches running at once each add their groups without waiting on one another's (a
-- unique key would make a second batch wait for the first's commit); repeats are counted once.
CREATE TABLE outcome_aggregate_pending (
  study_id text NOT NULL,
  arm text NOT NULL,
  visit text NOT NULL,
  kind text NOT NULL
);
