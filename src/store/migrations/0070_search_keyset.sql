-- Research searches by index order (src/store/search-store.ts). Each lookup index gets the owning
-- resource's id as a key column, so that a page read in the index's order can resume after its
-- last entry by keyset (a date-driven page starts at (lo, id) after the cursor, however many
-- results share one date), and so that testing whether a given resource has a given value is one
-- descent of the index, without visiting the table. Same indexes, one more key column each: a
-- write adds no index entry.
DROP INDEX sp_date_lookup;
CREATE INDEX sp_date_lookup ON sp_date (resource_type, param, lo, id, hi);
DROP INDEX sp_token_lookup;
CREATE INDEX sp_token_lookup ON sp_token (resource_type, param, code, system, id);
DROP INDEX sp_reference_lookup;
CREATE INDEX sp_reference_lookup ON sp_reference (resource_type, param, target, id);
