-- FHIR resource store: current versions, full history, and search index tables.
-- Must run on PostgreSQL 15 (production) and PGlite (PostgreSQL 18): plain SQL only.

CREATE SEQUENCE resource_seq;

-- The current version of every resource. `content` is the JSON text exactly as served (meta
-- included), kept as text so reads and $export are a pass-through; NULL once deleted.
CREATE TABLE resources (
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  -- Fixed at creation: the key for stable paging (new resources sort after any open cursor).
  created_seq bigint NOT NULL DEFAULT nextval('resource_seq'),
  content text,
  PRIMARY KEY (resource_type, id)
);
CREATE INDEX resources_type_seq ON resources (resource_type, created_seq) WHERE NOT deleted;
CREATE INDEX resources_type_updated ON resources (resource_type, last_updated) WHERE NOT deleted;

-- Every version ever written, including deletes, for vread and _history.
CREATE TABLE resource_history (
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id integer NOT NULL,
  last_updated timestamptz NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  method text NOT NULL,
  content text,
  PRIMARY KEY (resource_type, id, version_id)
);

-- Search indexes: one row per extracted value of a search parameter of the current version.
CREATE TABLE sp_token (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  system text,
  code text
);
CREATE INDEX sp_token_lookup ON sp_token (resource_type, param, code, system);
CREATE INDEX sp_token_owner ON sp_token (resource_type, id);

CREATE TABLE sp_reference (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  target text NOT NULL
);
CREATE INDEX sp_reference_lookup ON sp_reference (resource_type, param, target);
CREATE INDEX sp_reference_owner ON sp_reference (resource_type, id);

-- Dates as half-open ranges [lo, hi): a date of 2021-03 covers the whole month.
CREATE TABLE sp_date (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  lo timestamptz NOT NULL,
  hi timestamptz NOT NULL
);
CREATE INDEX sp_date_lookup ON sp_date (resource_type, param, lo, hi);
CREATE INDEX sp_date_owner ON sp_date (resource_type, id);

-- Strings normalised (lower case, accents kept) for the default starts-with match.
CREATE TABLE sp_string (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  value text NOT NULL
);
CREATE INDEX sp_string_lookup ON sp_string (resource_type, param, value text_pattern_ops);
CREATE INDEX sp_string_owner ON sp_string (resource_type, id);

CREATE TABLE sp_number (
  resource_type text NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  value numeric NOT NULL,
  system text,
  code text
);
CREATE INDEX sp_number_lookup ON sp_number (resource_type, param, value);
CREATE INDEX sp_number_owner ON sp_number (resource_type, id);
