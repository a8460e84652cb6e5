-- A combined ("combo") search index, as HAPI FHIR's non-unique combo search parameters: the `code`
-- token rows of an Observation also carry its subject and its date range, and a partial index over
-- them makes "this subject's results with this code, newest first" one ordered
-- range of one btree (src/store/search-combo.ts) instead of every result of the subject, each tested
-- for the code. On the token rows rather than in a table of their own, and without created_seq (ties
-- are ordered by the resources row's, read at search time): a separate table, and reading created_seq
-- from the statement's own insert, each cost an Observation write several per cent more; the index
-- entries themselves cost little. Written with the other index rows (src/store/combo-rows.ts),
-- removed with them.
--   subject:  the target of the Observation's `subject` reference (0..1 in R4); NULL on every other
--             token row, which keeps those rows out of the index
--   date_lo:  earliest lo of the resource's `date` rows (what _sort=date orders by), 'infinity' without
--   date_hi:  latest hi of them (what _sort=-date orders by), '-infinity' without: both sort last,
--             as a missing sort value does (NULLS LAST)
-- A table sp_combo held the same rows on main for a while (reverted): gone.
DROP TABLE IF EXISTS sp_combo;

ALTER TABLE sp_token
  ADD COLUMN subject text,
  ADD COLUMN date_lo timestamptz,
  ADD COLUMN date_hi timestamptz;

UPDATE sp_token k
   SET subject = g.target, date_lo = coalesce(d.lo, 'infinity'), date_hi = coalesce(d.hi, '-infinity')
  FROM sp_reference g
  JOIN resources r ON r.resource_type = g.resource_type AND r.id = g.id AND NOT r.deleted
  LEFT JOIN (SELECT x.id, min(x.lo) AS lo, max(x.hi) AS hi FROM sp_date x
             WHERE x.resource_type = 'Observation' AND x.param = 'date' GROUP BY x.id) d ON d.id = g.id
 WHERE k.resource_type = 'Observation' AND k.param = 'code'
   AND g.resource_type = 'Observation' AND g.id = k.id AND g.param = 'subject';

-- Newest first is a forward scan (ties on date_hi sorted by created_seq as they come); oldest first
-- (date_lo) reads the subject's code rows and sorts.
CREATE INDEX sp_token_combo ON sp_token (resource_type, subject, code, date_hi DESC)
  INCLUDE (system, id, date_lo) WHERE subject IS NOT NULL;
