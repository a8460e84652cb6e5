-- "One code over a date range" (e.g. Observation?code=…|777-3&date=ge2022-03-01&date=lt2022-04-01)
-- as one ordered range of one btree (src/store/search-code-date.ts), instead of the type's `date`
-- rows walked in date order from the bound, each probed for the code. Over the same Observation
-- `code` token rows as sp_token_combo (migration 0072), which carry the resource's date range:
-- index entries on existing rows cost the write little, a table of its own cost it more.
--   date_lo/date_hi: now also on the code rows of Observations without a subject (subject NULL keeps
--             them out of sp_token_combo as before)
--   date_many: true when the resource has several `date` rows (effectiveTiming with several events),
--             NULL otherwise. Then lo..hi is not one of its values and a date filter, each value of
--             which may match another row, cannot be answered from it: those rows stay out of
--             sp_token_code_date and are found through sp_token_code_dates_many (normally empty).
ALTER TABLE sp_token ADD COLUMN date_many boolean;

UPDATE sp_token k
   SET date_lo = coalesce(d.lo, 'infinity'), date_hi = coalesce(d.hi, '-infinity'),
       date_many = CASE WHEN d.n > 1 THEN true END
  FROM resources r
  LEFT JOIN (SELECT x.id, min(x.lo) AS lo, max(x.hi) AS hi, count(*) AS n FROM sp_date x
             WHERE x.resource_type = 'Observation' AND x.param = 'date' GROUP BY x.id) d ON d.id = r.id
 WHERE k.resource_type = 'Observation' AND k.param = 'code'
   AND r.resource_type = k.resource_type AND r.id = k.id AND NOT r.deleted
   AND (k.date_lo IS NULL OR d.n > 1);

-- (code, date) in the order a search without _sort driven by a date filter reads its matches
-- (search-store.ts dateDrivenSql: lo, then id).
CREATE INDEX sp_token_code_date ON sp_token (resource_type, code, date_lo DESC, id DESC)
  INCLUDE (system, date_hi) WHERE date_lo IS NOT NULL AND date_many IS NULL;
CREATE INDEX sp_token_code_dates_many ON sp_token (resource_type, code) WHERE date_many;
