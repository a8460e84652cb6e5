-- One row per computed outcome value per ResearchSubject and visit, replaced in the transaction
-- that publishes the subject's outcome resources: the per-arm MeasureReports are aggregates of
-- this table (a GROUP BY), so 10,000 subjects never have to be re-read as FHIR to count them.
CREATE TABLE outcome_summary (
  study_id text NOT NULL,
  research_subject_id text NOT NULL,
  arm text NOT NULL,
  visit text NOT NULL,
  kind text NOT NULL,
  -- '' for numeric outcomes; the category (or, for adverse events, the term) otherwise.
  category text NOT NULL DEFAULT '',
  value numeric,
  PRIMARY KEY (research_subject_id, kind, visit, category)
);
CREATE INDEX outcome_summary_arm ON outcome_summary (study_id, arm, visit, kind);
