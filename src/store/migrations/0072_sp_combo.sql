-- A combined ("combo") search index, as HAPI FHIR's non-unique combo search parameters: one row per
-- subject reference x code coding of a current Observation, carrying the resource's date range and
-- created_seq, so that "this subject's results with this code, newest first" is one ordered range
-- of one btree (src/store/search-combo.ts) instead of every result of the subject, each tested for
-- the code. Written with the other index rows (src/store/combo-rows.ts), removed with them.
--   date_lo: earliest lo of the resource's `date` rows (what _sort=date orders by), 'infinity' without
--   date_hi: latest hi of them (what _sort=-date orders by), '-infinity' without: both sort last,
--            as a missing sort value does (NULLS LAST)
CREATE TABLE sp_combo (
  resource_type text NOT NULL,
  id text NOT NULL,
  subject text NOT NULL,
  system text,
  code text NOT NULL,
  date_lo timestamptz NOT NULL,
  date_hi timestamptz NOT NULL,
  created_seq bigint NOT NULL
);

INSERT INTO sp_combo (resource_type, id, subject, system, code, date_lo, date_hi, created_seq)
SELECT g.resource_type, g.id, g.target, k.system, k.code, coalesce(d.lo, 'infinity'), coalesce(d.hi, '-infinity'), r.created_seq
FROM sp_reference g
JOIN sp_token k ON k.resource_type = g.resource_type AND k.id = g.id AND k.param = 'code' AND k.code IS NOT NULL
JOIN resources r ON r.resource_type = g.resource_type AND r.id = g.id AND NOT r.deleted
LEFT JOIN (SELECT x.id, min(x.lo) AS lo, max(x.hi) AS hi FROM sp_date x
           WHERE x.resource_type = 'Observation' AND x.param = 'date' GROUP BY x.id) d ON d.id = g.id
WHERE g.resource_type = 'Observation' AND g.param = 'subject';

-- Newest first is a forward scan; oldest first (date_lo) reads the subject's code rows and sorts.
CREATE INDEX sp_combo_lookup ON sp_combo (resource_type, subject, code, date_hi DESC, created_seq)
  INCLUDE (system, id, date_lo);
CREATE INDEX sp_combo_owner ON sp_combo (resource_type, id);
