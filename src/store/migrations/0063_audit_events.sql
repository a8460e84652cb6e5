-- The audit trail in tables of its own, out of the clinical `resources` and search index tables
-- (issue 22): an audit record per request made every research search, `_history` page and
-- `$everything` read through them. Both tables are partitioned by month of `recorded`
-- (src/store/audit-store.ts creates the partitions, named audit_events_yYYYYmMM, ahead of time and
-- drops the expired ones: src/jobs/audit-retention.ts); a row outside every monthly partition goes
-- to the default one until the job moves it into its month.

-- One row per AuditEvent (they are immutable: one version each). `content` is the JSON text as served.
CREATE TABLE audit_events (
  id text NOT NULL,
  recorded timestamptz NOT NULL,
  content text NOT NULL
) PARTITION BY RANGE (recorded);
-- read and vread by id (one probe per partition: there is no global unique index on a partitioned table)
CREATE INDEX audit_events_id ON audit_events (id);
-- the whole trail newest first, and date-only searches
CREATE INDEX audit_events_recorded ON audit_events (recorded, id);
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- What an AuditEvent is searched by: its references (entity, patient, agent, source) with the
-- target as value, and its tokens (type, subtype, action, outcome) with system and code.
-- "Who accessed this patient's data in the last month" is one range of the lookup index.
CREATE TABLE audit_event_keys (
  recorded timestamptz NOT NULL,
  id text NOT NULL,
  param text NOT NULL,
  system text,
  value text NOT NULL
) PARTITION BY RANGE (recorded);
CREATE INDEX audit_event_keys_lookup ON audit_event_keys (param, value, recorded, id);
CREATE TABLE audit_event_keys_default PARTITION OF audit_event_keys DEFAULT;

-- The upgrade: every AuditEvent stored so far, with its search keys, moves out of the clinical tables.
INSERT INTO audit_events (id, recorded, content)
SELECT id, coalesce((content::json ->> 'recorded')::timestamptz, last_updated), content
  FROM resources WHERE resource_type = 'AuditEvent' AND content IS NOT NULL;
INSERT INTO audit_event_keys (recorded, id, param, system, value)
SELECT a.recorded, a.id, k.param, k.system, k.value
  FROM audit_events a
  JOIN (SELECT id, param, NULL::text AS system, target AS value FROM sp_reference WHERE resource_type = 'AuditEvent'
        UNION ALL
        SELECT id, param, system, code FROM sp_token WHERE resource_type = 'AuditEvent') k ON k.id = a.id;
DELETE FROM sp_token WHERE resource_type = 'AuditEvent';
DELETE FROM sp_reference WHERE resource_type = 'AuditEvent';
DELETE FROM sp_date WHERE resource_type = 'AuditEvent';
DELETE FROM sp_string WHERE resource_type = 'AuditEvent';
DELETE FROM sp_number WHERE resource_type = 'AuditEvent';
DELETE FROM resource_history WHERE resource_type = 'AuditEvent';
DELETE FROM resources WHERE resource_type = 'AuditEvent';
