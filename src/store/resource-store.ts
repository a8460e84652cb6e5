/**
 * Reads and writes of resource versions. Every write is one SQL statement (data-modifying CTEs) that
 * replaces the current row, appends to history and rewrites the search index rows, so a create is a
 * single durable round trip, and callers compose several writes inside one transaction.
 */

import type { IndexRows } from '../shared/index-rows.ts';
import { AUDIT_EVENT_TYPE } from './audit-store.ts';
import { addComboColumns, comboKey, emptyComboColumns } from './combo-rows.ts';
import type { Queryable } from './db.ts';
import { LAST_UPDATED_SQL, type StoredVersion, toStoredVersion, type VersionRow } from './resource-rows.ts';
import { ENROLLMENT_TYPES } from './sole-writer.ts';

export interface VersionWrite {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  method: 'POST' | 'PUT' | 'DELETE';
  /** JSON text of the resource with meta set; undefined for a delete. */
  content: string | undefined;
  index: IndexRows | undefined;
}

/** Writes of these types change who is enrolled (see src/ingest/enrollment-index.ts). */
export { ENROLLMENT_TYPES } from './sole-writer.ts';

const COLUMNS = `resource_type, id, version_id, ${LAST_UPDATED_SQL} AS last_updated, deleted, content`;

function unzip<T extends unknown[]>(rows: T[], width: number): unknown[][] {
  const cols: unknown[][] = Array.from({ length: width }, () => []);
  for (const row of rows) for (let i = 0; i < width; i++) cols[i]!.push(row[i]);
  return cols;
}

/** The version that deletes a resource: no content, no index rows (410 on read after). */
export function deletionWrite(resourceType: string, id: string, versionId: number): VersionWrite {
  return {
    resourceType,
    id,
    versionId,
    lastUpdated: new Date().toISOString(),
    method: 'DELETE',
    content: undefined,
    index: undefined,
  };
}

/**
 * `firstVersion`: the row does not exist yet (plain INSERT, which fails on a concurrent create
 * with the same id instead of silently overwriting it).
 */
/** The index rows of one resource as SQL array parameters, in the order `indexInsertCtes` reads them. */
function indexParams(idx: IndexRows | undefined): unknown[][] {
  const rows = idx ?? { tokens: [], references: [], dates: [], strings: [], numbers: [] };
  return [
    ...unzip(rows.tokens, 3),
    ...unzip(rows.references, 2),
    ...unzip(rows.dates, 3),
    ...unzip(rows.strings, 2),
    ...unzip(rows.numbers, 4),
  ];
}

/**
 * CTEs inserting a resource's index rows; $1/$2 are its type and id, the 14 arrays start at $base.
 * With `combo`, its token rows carry the combined index's columns (combo-rows.ts), whose 4 arrays
 * follow the 14.
 */
function indexInsertCtes(base: number, combo: boolean): string {
  const $ = (k: number): string => `$${base + k}`;
  const tokens = combo
    ? `it AS (INSERT INTO sp_token (resource_type, id, param, system, code, subject, date_lo, date_hi, date_many)
              SELECT $1, $2, x.p, x.s, x.c, x.g, x.l, x.h, x.m
              FROM unnest(${$(0)}::text[], ${$(1)}::text[], ${$(2)}::text[], ${$(14)}::text[], ${$(15)}::timestamptz[], ${$(16)}::timestamptz[], ${$(17)}::boolean[])
                AS x(p, s, c, g, l, h, m))`
    : `it AS (INSERT INTO sp_token (resource_type, id, param, system, code)
              SELECT $1, $2, x.p, x.s, x.c FROM unnest(${$(0)}::text[], ${$(1)}::text[], ${$(2)}::text[]) AS x(p, s, c))`;
  return `${tokens}
     , ir AS (INSERT INTO sp_reference (resource_type, id, param, target)
              SELECT $1, $2, x.p, x.t FROM unnest(${$(3)}::text[], ${$(4)}::text[]) AS x(p, t))
     , idt AS (INSERT INTO sp_date (resource_type, id, param, lo, hi)
              SELECT $1, $2, x.p, x.l, x.h FROM unnest(${$(5)}::text[], ${$(6)}::timestamptz[], ${$(7)}::timestamptz[]) AS x(p, l, h))
     , iss AS (INSERT INTO sp_string (resource_type, id, param, value)
              SELECT $1, $2, x.p, x.v FROM unnest(${$(8)}::text[], ${$(9)}::text[]) AS x(p, v))
     , inn AS (INSERT INTO sp_number (resource_type, id, param, value, system, code)
              SELECT $1, $2, x.p, x.v, x.s, x.c FROM unnest(${$(10)}::text[], ${$(11)}::numeric[], ${$(12)}::text[], ${$(13)}::text[]) AS x(p, v, s, c))`;
}

/**
 * The CTE `it` inserting the token rows of many resources, the five column arrays from $first;
 * with `comboFirst`, their combo columns' four arrays (combo-rows.ts) from there.
 */
export function batchTokenCte(first: number, comboFirst?: number): string {
  const cols = [0, 1, 2, 3, 4].map((k) => `$${first + k}::text[]`);
  if (comboFirst === undefined)
    return `it AS (INSERT INTO sp_token (resource_type, id, param, system, code) SELECT * FROM unnest(${cols.join(', ')}))`;
  cols.push(
    `$${comboFirst}::text[]`,
    `$${comboFirst + 1}::timestamptz[]`,
    `$${comboFirst + 2}::timestamptz[]`,
    `$${comboFirst + 3}::boolean[]`,
  );
  return `it AS (INSERT INTO sp_token (resource_type, id, param, system, code, subject, date_lo, date_hi, date_many)
       SELECT * FROM unnest(${cols.join(', ')}))`;
}

/** The combo columns of a write's token rows as parameters, undefined when it has none. */
function comboParams(resourceType: string, idx: IndexRows | undefined): unknown[] | undefined {
  const key = comboKey(resourceType, idx);
  if (!key || !idx) return undefined;
  const cols = emptyComboColumns();
  addComboColumns(cols, key, idx.tokens);
  return [cols.subject, cols.lo, cols.hi, cols.many];
}

/**
 * Old index rows go first, in their own statement: sub-statements of one WITH run in no defined
 * order, and the unique identifier index must not see the old and new rows together.
 */
async function deleteIndexRows(q: Queryable, resourceType: string, id: string): Promise<void> {
  await q.query(
    `WITH dt AS (DELETE FROM sp_token WHERE resource_type = $1 AND id = $2)
     , dr AS (DELETE FROM sp_reference WHERE resource_type = $1 AND id = $2)
     , dd AS (DELETE FROM sp_date WHERE resource_type = $1 AND id = $2)
     , ds AS (DELETE FROM sp_string WHERE resource_type = $1 AND id = $2)
     , dn AS (DELETE FROM sp_number WHERE resource_type = $1 AND id = $2)
     SELECT 1`,
    [resourceType, id],
  );
}

export async function writeVersion(q: Queryable, w: VersionWrite, firstVersion: boolean): Promise<void> {
  const deleted = w.method === 'DELETE';
  // Superseded versions move to history in the same statement (CTEs all read the snapshot from
  // before the statement, so `h` copies the old row while `r` overwrites it).
  const writeCurrent = firstVersion
    ? `r AS (INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content, method)
             VALUES ($1, $2, $3, $4, $5, $6, $7))`
    : `h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, method, content)
             SELECT resource_type, id, version_id, last_updated, deleted, method, content
             FROM resources WHERE resource_type = $1 AND id = $2)
     , r AS (UPDATE resources SET version_id = $3, last_updated = $4, deleted = $5, content = $6, method = $7
             WHERE resource_type = $1 AND id = $2)`;
  if (!firstVersion) await deleteIndexRows(q, w.resourceType, w.id);
  q.soleWriter?.written(w.resourceType, w.index);
  const combo = comboParams(w.resourceType, w.index);
  // Enrollment-relevant writes bump the shared version, in this same statement (see 0003 migration).
  const bumpEnrollment = ENROLLMENT_TYPES.has(w.resourceType)
    ? ', ev AS (UPDATE enrollment_state SET version = version + 1 WHERE id = 1)'
    : '';
  await q.query(
    `WITH ${writeCurrent}
     ${bumpEnrollment}
     , ${indexInsertCtes(8, combo !== undefined)}
     SELECT 1`,
    [
      w.resourceType,
      w.id,
      w.versionId,
      w.lastUpdated,
      deleted,
      w.content ?? null,
      w.method,
      ...indexParams(w.index),
      ...(combo ?? []),
    ],
  );
  q.soleWriter?.settled([w.resourceType]);
}

/**
 * Rewrites the index rows of a current version in place (no new version): for a reindex after the
 * search parameters changed. The caller holds the row (reindexBatch locks it).
 */
export async function replaceIndexRows(q: Queryable, resourceType: string, id: string, idx: IndexRows): Promise<void> {
  await deleteIndexRows(q, resourceType, id);
  q.soleWriter?.written(resourceType, idx);
  const combo = comboParams(resourceType, idx);
  await q.query(`WITH ${indexInsertCtes(3, combo !== undefined)} SELECT 1`, [
    resourceType,
    id,
    ...indexParams(idx),
    ...(combo ?? []),
  ]);
  q.soleWriter?.settled([resourceType]);
}

/** One keyset window of current versions of a type, locked until the caller's transaction ends. */
export async function lockCurrentWindow(
  q: Queryable,
  resourceType: string,
  afterSeq: string,
  limit: number,
): Promise<{ seq: string; id: string; content: string }[]> {
  const r = await q.query<{ seq: string; id: string; content: string }>(
    `SELECT created_seq::text AS seq, id, content FROM resources
     WHERE resource_type = $1 AND NOT deleted AND created_seq > $2::bigint
     ORDER BY created_seq LIMIT $3 FOR UPDATE`,
    [resourceType, afterSeq, limit],
  );
  return r.rows;
}

export async function readCurrent(
  q: Queryable,
  resourceType: string,
  id: string,
  forUpdate = false,
): Promise<StoredVersion | undefined> {
  if (resourceType === AUDIT_EVENT_TYPE) return readAuditVersion(q, id, 1);
  const r = await q.query<VersionRow>(
    `SELECT ${COLUMNS} FROM resources WHERE resource_type = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    [resourceType, id],
  );
  const row = r.rows[0];
  return row ? toStoredVersion(row) : undefined;
}

export async function readVersion(
  q: Queryable,
  resourceType: string,
  id: string,
  versionId: number,
): Promise<StoredVersion | undefined> {
  if (resourceType === AUDIT_EVENT_TYPE) return readAuditVersion(q, id, versionId);
  const r = await q.query<VersionRow>(
    `SELECT ${COLUMNS} FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3
     UNION ALL
     SELECT ${COLUMNS} FROM resources WHERE resource_type = $1 AND id = $2 AND version_id = $3`,
    [resourceType, id, versionId],
  );
  const row = r.rows[0];
  return row ? toStoredVersion(row) : undefined;
}

/** An AuditEvent (audit-store.ts): immutable, so version 1 is its only version. */
async function readAuditVersion(q: Queryable, id: string, versionId: number): Promise<StoredVersion | undefined> {
  if (versionId !== 1) return undefined;
  const r = await q.query<VersionRow>(
    `SELECT 'AuditEvent' AS resource_type, id, 1 AS version_id, content::json -> 'meta' ->> 'lastUpdated' AS last_updated,
            false AS deleted, content
       FROM audit_events WHERE id = $1 LIMIT 1`,
    [id],
  );
  const row = r.rows[0];
  return row ? toStoredVersion(row) : undefined;
}

export interface HistoryPage {
  versions: (StoredVersion & { method: string })[];
  total: number;
}

/** Instance history, newest first (FHIR: "oldest last"). */
export async function readHistory(
  q: Queryable,
  resourceType: string,
  id: string,
  options: { count: number; offset: number; since?: string | undefined },
): Promise<HistoryPage> {
  if (resourceType === AUDIT_EVENT_TYPE) {
    const v = await readAuditVersion(q, id, 1);
    const kept = v && (!options.since || v.lastUpdated >= options.since) ? [{ ...v, method: 'POST' }] : [];
    return { total: kept.length, versions: kept.slice(options.offset, options.offset + options.count) };
  }
  const params: unknown[] = [resourceType, id];
  let where = 'resource_type = $1 AND id = $2';
  if (options.since) {
    params.push(options.since);
    where += ` AND last_updated >= $${params.length}`;
  }
  // All versions: the superseded ones in history and the current one.
  const versions = `(SELECT resource_type, id, version_id, last_updated, deleted, method, content FROM resource_history
                      WHERE ${where}
                     UNION ALL
                     SELECT resource_type, id, version_id, last_updated, deleted, method, content FROM resources
                      WHERE ${where}) v`;
  const total = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${versions}`, params);
  const rows = await q.query<VersionRow & { method: string }>(
    `SELECT ${COLUMNS}, method FROM ${versions}
     ORDER BY version_id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, options.count, options.offset],
  );
  return {
    total: Number(total.rows[0]?.n ?? 0),
    versions: rows.rows.map((row) => ({ ...toStoredVersion(row), method: row.method })),
  };
}

/** Which of these ids of one type have a current (not deleted) version. */
export async function existingIds(q: Queryable, resourceType: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const r = await q.query<{ id: string }>(
    'SELECT id FROM resources WHERE resource_type = $1 AND id = ANY($2::text[]) AND NOT deleted',
    [resourceType, [...new Set(ids)]],
  );
  return new Set(r.rows.map((row) => row.id));
}

/** Of these resources, the ones deleted now, with the version of their deletion ("Type/id" keys). */
export async function readDeletedVersions(
  q: Queryable,
  refs: readonly { resourceType: string; id: string }[],
): Promise<Map<string, number>> {
  if (refs.length === 0) return new Map();
  // One primary-key probe per reference (LIMIT keeps the planner from flattening the lateral
  // subquery into a join it may hash over the whole table while it has no statistics).
  const r = await q.query<{ resource_type: string; id: string; version_id: number }>(
    `SELECT k.t AS resource_type, k.i AS id, r.version_id
       FROM unnest($1::text[], $2::text[]) AS k(t, i)
       CROSS JOIN LATERAL (
         SELECT version_id FROM resources WHERE resource_type = k.t AND id = k.i AND deleted LIMIT 1) AS r`,
    [refs.map((x) => x.resourceType), refs.map((x) => x.id)],
  );
  return new Map(r.rows.map((row) => [`${row.resource_type}/${row.id}`, row.version_id]));
}

export async function readMany(q: Queryable, refs: { resourceType: string; id: string }[]): Promise<StoredVersion[]> {
  if (refs.length === 0) return [];
  const r = await q.query<VersionRow>(
    `SELECT ${COLUMNS} FROM resources
     WHERE NOT deleted AND (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [refs.map((x) => x.resourceType), refs.map((x) => x.id)],
  );
  return r.rows.map(toStoredVersion);
}
