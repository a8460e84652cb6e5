-- Per resource type, a signature of the search parameters its index rows were written with
-- (src/fhir/search/search-params.ts). A type whose stored rows predate a change of its parameters
-- needs a reindex (npm run reindex); the signature is recorded when that finishes, or at once for a
-- type with nothing stored.
CREATE TABLE search_index_state (
  resource_type text PRIMARY KEY,
  signature text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
