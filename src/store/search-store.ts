/**
 * Runs a parsed search against the store: one page of matches in a stable order, the total, and
 * the resources that _include/_revinclude pull in.
 */

import type { IncludeSpec, SearchCursor, SearchRequest, SortKey } from '../shared/search-request.ts';
import type { Queryable } from './db.ts';
import { LAST_UPDATED_SQL, type StoredVersion, toStoredVersion, type VersionRow } from './resource-rows.ts';
import { filterCondition, filterConditions, ParamList } from './search-conditions.ts';

export interface SearchPage {
  matches: StoredVersion[];
  included: StoredVersion[];
  total: number | undefined;
  /** Cursor for the next page, when there is one. */
  next: SearchCursor | undefined;
}

const SORT_TABLE: Record<string, [table: string, column: string]> = {
  date: ['sp_date', 'lo'],
  string: ['sp_string', 'value'],
  token: ['sp_token', 'code'],
  uri: ['sp_token', 'code'],
  number: ['sp_number', 'value'],
  quantity: ['sp_number', 'value'],
};

function sortExpression(key: SortKey, p: ParamList): string {
  if (key.type === 'lastUpdated') return 'r.last_updated';
  if (key.type === 'id') return 'r.id';
  const [table, column] = SORT_TABLE[key.type] ?? ['sp_token', 'code'];
  const agg = key.descending ? 'max' : 'min';
  return `(SELECT ${agg}(x.${column === 'lo' && key.descending ? 'hi' : column}) FROM ${table} x
           WHERE x.resource_type = r.resource_type AND x.id = r.id AND x.param = ${p.add(key.code)})`;
}

async function currentBound(q: Queryable): Promise<string> {
  const r = await q.query<{ bound: string }>(
    'SELECT CASE WHEN is_called THEN last_value ELSE 0 END::text AS bound FROM resource_seq',
  );
  return r.rows[0]?.bound ?? '0';
}

export function whereClause(req: SearchRequest, p: ParamList, baseUrl: string): string {
  const conditions = [`r.resource_type = ${p.add(req.resourceType)}`, 'NOT r.deleted'];
  conditions.push(...filterConditions(req.resourceType, req.filters, p, baseUrl));
  for (const f of req.exclusions) conditions.push(`NOT ${filterCondition(f, p, baseUrl)}`);
  return conditions.join(' AND ');
}

/** Ids of matches (up to `limit`), for conditional create/update. */
export async function matchIds(q: Queryable, req: SearchRequest, baseUrl: string, limit: number): Promise<string[]> {
  const p = new ParamList();
  const where = whereClause(req, p, baseUrl);
  const r = await q.query<{ id: string }>(`SELECT r.id FROM resources r WHERE ${where} LIMIT ${limit}`, p.values);
  return r.rows.map((row) => row.id);
}

export async function runSearch(q: Queryable, req: SearchRequest, baseUrl: string): Promise<SearchPage> {
  const bound = req.cursor?.bound ?? (await currentBound(q));
  const p = new ParamList();
  const where = `${whereClause(req, p, baseUrl)} AND r.created_seq <= ${p.add(bound)}::bigint`;
  const countParams = [...p.values];

  let total: number | undefined;
  // Counting costs a pass over every match: only when asked (_total=accurate, _summary=count, or
  // _count=0, which asks for nothing else unless _total=none says not even that).
  if (req.total === 'accurate' || req.summaryCount || (req.count === 0 && req.total === undefined)) {
    const r = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM resources r WHERE ${where}`, countParams);
    total = Number(r.rows[0]?.n ?? 0);
  } else if (req.total === 'estimate' && req.count === 0) {
    total = await estimateCount(q, where, countParams);
  }
  if (req.summaryCount || req.count === 0) return { matches: [], included: [], total, next: undefined };

  let sql: string;
  const limit = req.count + 1;
  if (req.sort.length === 0) {
    const keyset = req.cursor?.after ? ` AND r.created_seq > ${p.add(req.cursor.after)}::bigint` : '';
    sql = `SELECT r.resource_type, r.id, r.version_id, ${LAST_UPDATED_SQL.replace('last_updated', 'r.last_updated')} AS last_updated,
                  r.deleted, r.content, r.created_seq::text AS seq
           FROM resources r WHERE ${where}${keyset}
           ORDER BY r.created_seq LIMIT ${limit}`;
  } else {
    const order = req.sort
      .map((k) => `${sortExpression(k, p)} ${k.descending ? 'DESC NULLS LAST' : 'ASC NULLS LAST'}`)
      .join(', ');
    const offset = req.cursor?.offset ?? 0;
    sql = `SELECT r.resource_type, r.id, r.version_id, ${LAST_UPDATED_SQL.replace('last_updated', 'r.last_updated')} AS last_updated,
                  r.deleted, r.content, r.created_seq::text AS seq
           FROM resources r WHERE ${where}
           ORDER BY ${order}, r.created_seq LIMIT ${limit} OFFSET ${offset}`;
  }
  const rows = (await q.query<VersionRow & { seq: string }>(sql, p.values)).rows;
  const hasMore = rows.length > req.count;
  const pageRows = hasMore ? rows.slice(0, req.count) : rows;
  const matches = pageRows.map(toStoredVersion);
  let next: SearchCursor | undefined;
  if (hasMore) {
    next =
      req.sort.length === 0
        ? { bound, after: pageRows[pageRows.length - 1]?.seq }
        : { bound, offset: (req.cursor?.offset ?? 0) + req.count };
  }
  // A first page with no page after it holds every match: its total is free.
  if (total === undefined && !req.cursor && !hasMore) total = matches.length;
  else if (total === undefined && req.total === 'estimate') {
    // Never fewer than this page shows (the planner's estimate can be far off either way).
    total = Math.max(await estimateCount(q, where, countParams), matches.length + (hasMore ? 1 : 0));
  }
  const included = await loadIncludes(q, req, matches);
  return { matches, included, total, next };
}

/** The planner's estimate of the rows matching `where` (_total=estimate): no row is read. */
async function estimateCount(q: Queryable, where: string, params: unknown[]): Promise<number> {
  const r = await q.query<Record<string, unknown>>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM resources r WHERE ${where}`,
    params,
  );
  const cell = Object.values(r.rows[0] ?? {})[0];
  const plan = (typeof cell === 'string' ? JSON.parse(cell) : cell) as
    | [{ Plan?: { 'Plan Rows'?: unknown } }]
    | undefined;
  const rows = Number(plan?.[0]?.Plan?.['Plan Rows']);
  return Number.isFinite(rows) && rows >= 0 ? Math.round(rows) : 0;
}

async function loadIncludes(q: Queryable, req: SearchRequest, matches: StoredVersion[]): Promise<StoredVersion[]> {
  if (matches.length === 0 || (req.includes.length === 0 && req.revincludes.length === 0)) return [];
  const seen = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
  const included: StoredVersion[] = [];
  let frontier = matches;
  // _include:iterate follows includes of included resources; bounded to avoid cycles running away.
  for (let depth = 0; depth < 3 && frontier.length > 0; depth++) {
    const found: StoredVersion[] = [];
    for (const inc of req.includes) {
      if (depth > 0 && !inc.iterate) continue;
      found.push(...(await forwardInclude(q, inc, frontier)));
    }
    for (const inc of req.revincludes) {
      if (depth > 0 && !inc.iterate) continue;
      found.push(...(await reverseInclude(q, inc, frontier)));
    }
    frontier = [];
    for (const v of found) {
      const key = `${v.resourceType}/${v.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      included.push(v);
      frontier.push(v);
    }
  }
  return included;
}

const INCLUDE_COLUMNS = `t.resource_type, t.id, t.version_id, ${LAST_UPDATED_SQL.replace('last_updated', 't.last_updated')} AS last_updated, t.deleted, t.content`;

async function forwardInclude(q: Queryable, inc: IncludeSpec, from: StoredVersion[]): Promise<StoredVersion[]> {
  const ids = from.filter((m) => m.resourceType === inc.sourceType).map((m) => m.id);
  if (ids.length === 0) return [];
  const r = await q.query<VersionRow>(
    `SELECT DISTINCT ${INCLUDE_COLUMNS}
     FROM sp_reference x
     JOIN resources t ON t.resource_type = split_part(x.target, '/', 1) AND t.id = split_part(x.target, '/', 2)
     WHERE x.resource_type = $1 AND x.param = $2 AND x.id = ANY($3::text[]) AND NOT t.deleted
       AND ($4::text IS NULL OR t.resource_type = $4)`,
    [inc.sourceType, inc.param, ids, inc.targetType ?? null],
  );
  return r.rows.map(toStoredVersion);
}

async function reverseInclude(q: Queryable, inc: IncludeSpec, from: StoredVersion[]): Promise<StoredVersion[]> {
  const targets = from.map((m) => `${m.resourceType}/${m.id}`);
  const r = await q.query<VersionRow>(
    `SELECT DISTINCT ${INCLUDE_COLUMNS}
     FROM sp_reference x
     JOIN resources t ON t.resource_type = x.resource_type AND t.id = x.id
     WHERE x.resource_type = $1 AND x.param = $2 AND x.target = ANY($3::text[]) AND NOT t.deleted`,
    [inc.sourceType, inc.param, targets],
  );
  return r.rows.map(toStoredVersion);
}
