/**
 * Type- and system-level history: the versions of some resource types, newest first, by keyset
 * (time, type, id, version) so that a page costs the same however deep. Each type reads its three
 * time indexes (current, deleted, superseded: migration 0026) with a limit, and the pages merge.
 */
import type { Queryable } from './db.ts';
import { LAST_UPDATED_SQL, type StoredVersion, toStoredVersion, type VersionRow } from './resource-rows.ts';

/** Where the next page starts: the last version of this one. */
export interface HistoryCursor {
  /** last_updated exactly as stored: UTC, microseconds (2026-12-02T03:40:00.123456Z). */
  at: string;
  type: string;
  id: string;
  version: number;
}

export interface TypeHistoryPage {
  versions: (StoredVersion & { method: string })[];
  next: HistoryCursor | undefined;
}

export interface SecurityLabel {
  system: string;
  code: string;
}

/** Any version of (type, id) carries the label: `x` names the row being tested. */
function labelledSql(x: string, labelParam: string): string {
  const has = (t: string, a: string): string =>
    `EXISTS (SELECT 1 FROM ${t} ${a} WHERE ${a}.resource_type = ${x}.resource_type AND ${a}.id = ${x}.id
       AND (${a}.content::jsonb -> 'meta' -> 'security') @> ${labelParam}::jsonb)`;
  return `(${has('resources', 'lr')} OR ${has('resource_history', 'lh')})`;
}

/**
 * Whether any version of a resource ever carried the label: a masked caller sees none of its
 * versions, so its history answers as that of a resource that never existed.
 */
export async function everLabelled(q: Queryable, type: string, id: string, label: SecurityLabel): Promise<boolean> {
  const r = await q.query<{ found: boolean }>(
    `SELECT ${labelledSql('x', '$3')} AS found FROM (SELECT $1::text AS resource_type, $2::text AS id) x`,
    [type, id, JSON.stringify([label])],
  );
  return r.rows[0]?.found === true;
}

export async function readTypesHistory(
  q: Queryable,
  types: readonly string[],
  options: {
    count: number;
    since?: string | undefined;
    after?: HistoryCursor | undefined;
    /** Leave out every version of resources that ever carried this label (a masked caller's history). */
    hideLabelled?: SecurityLabel | undefined;
  },
): Promise<TypeHistoryPage> {
  if (types.length === 0 || options.count === 0) return { versions: [], next: undefined };
  const params: unknown[] = [types, options.count + 1];
  const conditions: string[] = [];
  if (options.hideLabelled) {
    // Filtered before the limit, so a masked caller's pages are as full as anyone's.
    params.push(JSON.stringify([options.hideLabelled]));
    conditions.push(`NOT ${labelledSql('s', `$${params.length}`)}`);
  }
  if (options.since) {
    params.push(options.since);
    conditions.push(`last_updated >= $${params.length}::timestamptz`);
  }
  // The keyset (last_updated, resource_type, id, version_id) < cursor, per type: each type's rows
  // come from its own index range (resource_type, last_updated, id[, version_id]: migration 0068),
  // so the bound is (last_updated, id, version_id) < (at, id, version) for the cursor's type; for a
  // type that sorts after it (DESC: shown before), strictly earlier than at; for one before it, at
  // or earlier (at + 1 µs, the resolution of timestamptz). The type comparison is SQL's, so it
  // follows the same collation as the ORDER BY.
  let typeBounds = 'SELECT rt FROM unnest($1::text[]) AS u(rt)';
  if (options.after) {
    const a = options.after;
    params.push(a.at, a.type, a.id, a.version);
    const n = params.length;
    const [at, type, id, version] = [`$${n - 3}::timestamptz`, `$${n - 2}::text`, `$${n - 1}::text`, `$${n}::int`];
    typeBounds = `SELECT rt,
        CASE WHEN rt < ${type} THEN ${at} + interval '1 microsecond' ELSE ${at} END AS b_at,
        CASE WHEN rt = ${type} THEN ${id} ELSE '' END AS b_id,
        CASE WHEN rt = ${type} THEN ${version} ELSE -1 END AS b_version
      FROM unnest($1::text[]) AS u(rt)`;
    conditions.push('(last_updated, id, version_id) < (t.b_at, t.b_id, t.b_version)');
  }
  const extra = conditions.map((c) => ` AND ${c}`).join('');
  const columns = `resource_type, id, version_id, last_updated, deleted, method, content`;
  const order = 'ORDER BY last_updated DESC, id DESC, version_id DESC LIMIT $2';
  const source = (table: string, where: string): string =>
    `SELECT x.* FROM (${typeBounds}) AS t CROSS JOIN LATERAL (
       SELECT ${columns} FROM ${table} s WHERE resource_type = t.rt AND ${where}${extra} ${order}) x`;
  const rows = await q.query<VersionRow & { method: string; at: string }>(
    // The outer ORDER BY names v's columns: the output's last_updated is text, rounded to ms.
    `SELECT resource_type, id, version_id, ${LAST_UPDATED_SQL} AS last_updated,
            to_char(last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
            deleted, method, content
     FROM (${source('resources', 'NOT deleted')}
           UNION ALL ${source('resources', 'deleted')}
           UNION ALL ${source('resource_history', 'true')}) v
     ORDER BY v.last_updated DESC, v.resource_type DESC, v.id DESC, v.version_id DESC LIMIT $2`,
    params,
  );
  const page = rows.rows.slice(0, options.count);
  const last = page[page.length - 1];
  return {
    versions: page.map((row) => ({ ...toStoredVersion(row), method: row.method })),
    next:
      rows.rows.length > options.count && last
        ? { at: last.at, type: last.resource_type, id: last.id, version: last.version_id }
        : undefined,
  };
}
