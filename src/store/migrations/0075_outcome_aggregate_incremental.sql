-- MeasureReport counts kept by difference (issue 20): after one subject's recomputation, recounting
-- each changed group read every summary row of the group, one per subject of the arm (about 20 ms at
-- 10,000 subjects, growing with them). A recomputation now applies its subjects' old and new rows to
-- the kept counts (outcome-store.ts, applySummaryChanges): counts and sums by difference, and the
-- median from the kept middle row, which moves by at most as many rows as the batch changed.
--   valued: rows with a value (the median is theirs; `subjects` counts every row).
--   mid_value, mid_subject: the lower middle row of the valued ones in (value, research_subject_id)
--   order, rank floor((valued - 1) / 2) from 0; the pair is unique (the summary's primary key).
ALTER TABLE outcome_aggregate
  ADD COLUMN valued integer NOT NULL DEFAULT 0,
  ADD COLUMN mid_value numeric,
  ADD COLUMN mid_subject text;

-- The middle row is found by walking this index from the kept one; its prefix serves the full
-- recount's lookups by group as outcome_summary_arm did, so it replaces it. Only the rows counted:
-- the measure values (kind "measure:<id>", for the flat export) are a large share of the rows and
-- are never counted, and a wider index over every row made a bulk recomputation's writes dearer.
-- Statements using it repeat its condition (kind NOT LIKE 'measure:%').
DROP INDEX outcome_summary_arm;
CREATE INDEX outcome_summary_group ON outcome_summary (study_id, arm, visit, kind, category, value, research_subject_id)
  WHERE kind NOT LIKE 'measure:%';

DELETE FROM outcome_aggregate;
INSERT INTO outcome_aggregate (study_id, arm, visit, kind, category, subjects, median, total, valued, mid_value, mid_subject)
SELECT study_id, arm, visit, kind, category, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value), sum(value), count(value),
       (array_agg(value ORDER BY value, research_subject_id) FILTER (WHERE value IS NOT NULL))[(count(value) + 1) / 2],
       (array_agg(research_subject_id ORDER BY value, research_subject_id) FILTER (WHERE value IS NOT NULL))[(count(value) + 1) / 2]
  FROM outcome_summary WHERE kind NOT LIKE 'measure:%'
 GROUP BY study_id, arm, visit, kind, category;
