-- The per-arm, per-visit counts and medians the MeasureReports show, kept per (arm, visit, kind):
-- a subject's recomputation recounts only the groups whose summary rows it changed, instead of
-- every row of its arm (at 10,000 subjects that recount was most of a one-result update).
CREATE TABLE outcome_aggregate (
  study_id text NOT NULL,
  arm text NOT NULL,
  visit text NOT NULL,
  kind text NOT NULL,
  category text NOT NULL,
  subjects integer NOT NULL,
  median numeric,
  total numeric,
  PRIMARY KEY (study_id, arm, visit, kind, category)
);
INSERT INTO outcome_aggregate (study_id, arm, visit, kind, category, subjects, median, total)
SELECT study_id, arm, visit, kind, category, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value), sum(value)
  FROM outcome_summary WHERE kind NOT LIKE 'measure:%'
 GROUP BY study_id, arm, visit, kind, category;
