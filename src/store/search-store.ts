/**
 * Runs a parsed search against the store: one page of matches in a stable order, the total, and
 * the resources that _include/_revinclude pull in.
 */

import { badRequest, fail } from '../shared/outcomes.ts';
import type { IncludeSpec, SearchCursor, SearchFilter, SearchRequest, SortKey } from '../shared/search-request.ts';
import type { Queryable } from './db.ts';
import { LAST_UPDATED_SQL, type StoredVersion, toStoredVersion, type VersionRow } from './resource-rows.ts';
import { codeDatePlan, codeDateSql } from './search-code-date.ts';
import { type ComboSqlParts, comboCondition, comboPageRows, comboPlan, comboPrepared } from './search-combo.ts';
import {
  dateFilterRange,
  dateRowCondition,
  filterCondition,
  filterConditions,
  ParamList,
} from './search-conditions.ts';
import { indexParamCondition } from './stored-as.ts';

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

/** The newest created_seq handed out: a first page's bound, kept in its cursor for the pages after it. */
export const CURRENT_BOUND_SQL =
  'SELECT CASE WHEN is_called THEN last_value ELSE 0 END::text AS bound FROM resource_seq';

/** The bound from CURRENT_BOUND_SQL's rows. */
export function boundFromRows(rows: readonly Record<string, unknown>[]): string {
  const bound = rows[0]?.bound;
  return typeof bound === 'string' ? bound : '0';
}

async function currentBound(q: Queryable): Promise<string> {
  return boundFromRows((await q.query<{ bound: string }>(CURRENT_BOUND_SQL)).rows);
}

export function whereClause(req: SearchRequest, p: ParamList, baseUrl: string): string {
  const conditions = [`r.resource_type = ${p.add(req.resourceType)}`, 'NOT r.deleted'];
  const combo = comboCondition(req, p, baseUrl);
  const filters = combo ? req.filters.filter((f) => !combo.answered.includes(f)) : req.filters;
  conditions.push(...filterConditions(req.resourceType, filters, p, baseUrl));
  if (combo) conditions.push(combo.sql);
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

/** A timestamp as exact, sortable text for a cursor (microseconds, UTC). */
function timestampText(expr: string): string {
  return `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
const TIMESTAMP_TEXT_RE = /^\d{4,5}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const NUMBER_TEXT_RE = /^-?\d+(\.\d+)?$/;

/** The SQL type of a sort key's values, to select them as text and compare a cursor's back. */
function keyType(key: SortKey): 'timestamptz' | 'numeric' | 'text' {
  if (key.type === 'date' || key.type === 'lastUpdated') return 'timestamptz';
  if (key.type === 'number' || key.type === 'quantity') return 'numeric';
  return 'text';
}

function keyParam(type: 'timestamptz' | 'numeric' | 'text', value: string, p: ParamList): string {
  // Checked here, so that a forged cursor is a 400, not a failed cast in the database.
  if ((type === 'timestamptz' && !TIMESTAMP_TEXT_RE.test(value)) || (type === 'numeric' && !NUMBER_TEXT_RE.test(value)))
    fail(badRequest('Invalid or expired paging cursor', '_cursor'));
  return `${p.add(value)}::${type}`;
}

/**
 * A date filter that can drive a search without _sort: the page is read in the order of that
 * parameter's index (sp_date_lookup) from the filter's bound, instead of in created_seq order
 * testing every resource of the type. One value, no modifier, and a bound on `lo` the index can
 * start from: lt/le (newest first, from the bound down) or eq/ap (oldest first, from the start up).
 */
interface DateDriver {
  index: number;
  filter: SearchFilter;
  descending: boolean;
}

function dateDriver(req: SearchRequest): DateDriver | undefined {
  if (req.sort.length > 0) return undefined;
  // A cursor written before date-driven pages continues in created_seq order.
  if (req.cursor && req.cursor.keys === undefined) return undefined;
  for (const [index, f] of req.filters.entries()) {
    if (f.type !== 'date' || f.modifier !== undefined || f.values.length !== 1) continue;
    // Three or more repeats of one parameter are folded into one grouped condition (filterConditions).
    if (req.filters.filter((g) => g.code === f.code).length >= 3) continue;
    const prefix = dateFilterRange(f)?.[0];
    if (prefix === 'lt' || prefix === 'le') return { index, filter: f, descending: true };
    if (prefix === 'eq' || prefix === 'ap') return { index, filter: f, descending: false };
  }
  return undefined;
}

const MATCH_COLUMNS = `r.resource_type, r.id, r.version_id, ${LAST_UPDATED_SQL.replace('last_updated', 'r.last_updated')} AS last_updated,
                  r.deleted, r.content, r.created_seq::text AS seq`;

/** `bound`: a first page's bound, when its statement reads it (search-combo.ts comboSql). */
type PageRow = VersionRow & { seq: string; dk?: string; bound?: string; [k: `k${number}`]: string | null };

function comboParts(p: ParamList, baseUrl: string): ComboSqlParts {
  return {
    where: (r) => whereClause(r, p, baseUrl),
    columns: MATCH_COLUMNS,
    keyParam: (v) => keyParam('timestamptz', v, p),
    timestampText,
    currentBound: `(${CURRENT_BOUND_SQL})`,
  };
}

/**
 * Settings a search's statements should run with (beside its time budget's): generic plans, when
 * the search is one prepared statement of the combined index (search-combo.ts comboPrepared), and
 * then it runs alone (runSearch's `alone`: outside a transaction, its bound read in the statement).
 * Only then: an unprepared statement's plan depends on its values (a date bound's selectivity,
 * say), and a generic plan would ignore them.
 */
export function searchSettings(req: SearchRequest, baseUrl: string): Record<string, string> | undefined {
  const counted = req.total === 'accurate' || req.total === 'estimate' || req.summaryCount || req.count === 0;
  if (counted || req.includes.length > 0 || req.revincludes.length > 0 || dateDriver(req)) return undefined;
  const combo = req.sort.length > 0 ? comboPlan(req, baseUrl) : undefined;
  return combo && comboPrepared(req, combo) ? { plan_cache_mode: 'force_generic_plan' } : undefined;
}

/**
 * `knownBound`: CURRENT_BOUND_SQL read by the caller just before (with its transaction's BEGIN).
 * `alone`: the caller runs each statement on its own (search.ts, when searchSettings applies): a
 * first page then reads its bound in its one statement, not in a statement of its own.
 */
export async function runSearch(
  q: Queryable,
  req: SearchRequest,
  baseUrl: string,
  knownBound?: string,
  alone = false,
): Promise<SearchPage> {
  const first = req.cursor?.bound === undefined && knownBound === undefined;
  const combo = alone && first && searchSettings(req, baseUrl) ? comboPlan(req, baseUrl) : undefined;
  if (combo) {
    const rows = await comboPageRows<PageRow>(q, req, combo, undefined, (p) => comboParts(p, baseUrl), req.count + 1);
    return pageOf(req, rows, rows[0]?.bound ?? '0', undefined, undefined);
  }
  const bound = req.cursor?.bound ?? knownBound ?? (await currentBound(q));
  const c = new ParamList();
  const countWhere = `${whereClause(req, c, baseUrl)} AND r.created_seq <= ${c.add(bound)}::bigint`;
  const countParams = c.values;

  let total: number | undefined;
  // Counting costs a pass over every match: only when asked (_total=accurate, _summary=count, or
  // _count=0, which asks for nothing else unless _total=none says not even that).
  if (req.total === 'accurate' || req.summaryCount || (req.count === 0 && req.total === undefined)) {
    const r = await q.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM resources r WHERE ${countWhere}`,
      countParams,
    );
    total = Number(r.rows[0]?.n ?? 0);
  } else if (req.total === 'estimate' && req.count === 0) {
    total = await estimateCount(q, countWhere, countParams);
  }
  if (req.summaryCount || req.count === 0) return { matches: [], included: [], total, next: undefined };

  const limit = req.count + 1;
  const driver = dateDriver(req);
  const codeDate = driver && codeDatePlan(req, driver);
  const sortedCombo = !driver && req.sort.length > 0 ? comboPlan(req, baseUrl) : undefined;
  const read = async (sql: (p: ParamList) => string): Promise<PageRow[]> => {
    const p = new ParamList();
    const text = sql(p);
    return (await q.query<PageRow>(text, p.values)).rows;
  };
  let rows: PageRow[];
  if (codeDate) {
    rows = await read((p) => codeDateSql(req, codeDate, bound, p, comboParts(p, baseUrl), limit));
  } else if (driver) {
    rows = await read((p) => dateDrivenSql(req, driver, bound, p, baseUrl, limit));
  } else if (req.sort.length === 0) {
    rows = await read((p) => {
      const where = `${whereClause(req, p, baseUrl)} AND r.created_seq <= ${p.add(bound)}::bigint`;
      const keyset = req.cursor?.after ? ` AND r.created_seq > ${p.add(req.cursor.after)}::bigint` : '';
      return `SELECT ${MATCH_COLUMNS}
           FROM resources r WHERE ${where}${keyset}
           ORDER BY r.created_seq LIMIT ${limit}`;
    });
  } else if (sortedCombo) {
    rows = await comboPageRows<PageRow>(q, req, sortedCombo, bound, (p) => comboParts(p, baseUrl), limit);
  } else {
    rows = await read((p) => sortedSql(req, bound, p, baseUrl, limit));
  }
  const page = pageOf(req, rows, bound, driver, total);
  if (page.total === undefined && req.total === 'estimate') {
    // Never fewer than this page shows (the planner's estimate can be far off either way).
    const shown = page.matches.length + (page.next ? 1 : 0);
    page.total = Math.max(await estimateCount(q, countWhere, countParams), shown);
  }
  page.included = await loadIncludes(q, req, page.matches);
  return page;
}

/** The page of `limit` rows read (one more than the page: whether another follows), its cursor and free total. */
function pageOf(
  req: SearchRequest,
  rows: PageRow[],
  bound: string,
  driver: DateDriver | undefined,
  total: number | undefined,
): SearchPage {
  const hasMore = rows.length > req.count;
  const pageRows = hasMore ? rows.slice(0, req.count) : rows;
  const matches = pageRows.map(toStoredVersion);
  const last = pageRows[pageRows.length - 1];
  let next: SearchCursor | undefined;
  if (hasMore && last) {
    if (driver) next = { bound, keys: [last.dk ?? null], id: last.id };
    else if (req.sort.length === 0) next = { bound, after: last.seq };
    else next = { bound, after: last.seq, keys: req.sort.map((_, i) => last[`k${i}`] ?? null) };
  }
  // A first page with no page after it holds every match: its total is free.
  if (total === undefined && !req.cursor && !hasMore) total = matches.length;
  return { matches, included: [], total, next };
}

/**
 * An explicit _sort, paged by keyset: after the last entry's sort values (NULLS LAST in either
 * direction), then created_seq. A cursor from before keysets carries an offset instead.
 */
function sortedSql(req: SearchRequest, bound: string, p: ParamList, baseUrl: string, limit: number): string {
  const where = `${whereClause(req, p, baseUrl)} AND r.created_seq <= ${p.add(bound)}::bigint`;
  const exprs = req.sort.map((k) => sortExpression(k, p));
  const cursor = req.cursor;
  let keyset = '';
  let offset = 0;
  if (cursor?.keys && cursor.after && cursor.keys.length === req.sort.length) {
    // After the cursor on keys i.. (then created_seq), built from the last key outwards.
    let after = `m.created_seq > ${p.add(cursor.after)}::bigint`;
    for (let i = req.sort.length - 1; i >= 0; i--) {
      const k = req.sort[i] as SortKey;
      const v = cursor.keys[i];
      if (v === null || v === undefined) after = `(m.s${i} IS NULL AND ${after})`;
      else {
        const val = keyParam(keyType(k), v, p);
        after = `(m.s${i} IS NULL OR m.s${i} ${k.descending ? '<' : '>'} ${val} OR (m.s${i} = ${val} AND ${after}))`;
      }
    }
    keyset = `WHERE ${after}`;
  } else if (cursor) {
    if (cursor.keys !== undefined) fail(badRequest('Invalid or expired paging cursor', '_cursor'));
    offset = cursor.offset ?? 0;
  }
  // The matches with their sort values, computed once each (OFFSET 0 keeps the subquery whole, so
  // the filters run before the sort values are looked up and the keyset compares the columns).
  const order = req.sort.map((k, i) => `m.s${i} ${k.descending ? 'DESC NULLS LAST' : 'ASC NULLS LAST'}`).join(', ');
  const keys = req.sort
    .map((k, i) => `${keyType(k) === 'timestamptz' ? timestampText(`m.s${i}`) : `m.s${i}::text`} AS k${i}`)
    .join(', ');
  return `SELECT m.resource_type, m.id, m.version_id, m.last_updated, m.deleted, m.content, m.seq, ${keys}
          FROM (SELECT ${MATCH_COLUMNS}, r.created_seq, ${exprs.map((e, i) => `${e} AS s${i}`).join(', ')}
                FROM resources r WHERE ${where} OFFSET 0) m
          ${keyset}
          ORDER BY ${order}, m.created_seq LIMIT ${limit}${offset ? ` OFFSET ${offset}` : ''}`;
}

/**
 * A search without _sort driven by one of its date filters (dateDriver): each match is read once,
 * at its latest (lt/le) or earliest (eq/ap) index row that satisfies the driving filter, in that
 * row's (lo, id) order, so a page is an index range from the bound or the cursor. The filter's own
 * condition holds for that row and is not tested again; other filters on the same parameter are
 * tried on that row first. The other filters are the usual conditions, unchanged.
 */
function dateDrivenSql(
  req: SearchRequest,
  driver: DateDriver,
  bound: string,
  p: ParamList,
  baseUrl: string,
  limit: number,
): string {
  const f = driver.filter;
  const rest = req.filters.filter((_, i) => i !== driver.index);
  const sameParam = rest.filter((g) => g.type === 'date' && g.code === f.code && g.modifier === undefined);
  const others = rest.filter((g) => !sameParam.includes(g));
  const [key] = req.cursor?.keys ?? [];
  if (req.cursor && (typeof key !== 'string' || req.cursor.id === undefined))
    fail(badRequest('Invalid or expired paging cursor', '_cursor'));
  const where = [
    whereClause({ ...req, filters: others }, p, baseUrl),
    `r.created_seq <= ${p.add(bound)}::bigint`,
    `d.param = ${p.add(f.code)}`,
  ];
  const driving = drivingRowCondition(f, driver.descending, typeof key === 'string' ? key : undefined, p);
  if (driving) where.push(driving);
  // Tested on the walked row and its resource's other rows of the parameter, all by d: checked as
  // the index is walked, before the row costs its other probes (a walk past the other filter's bound,
  // as the last page of a month walks the rest of the index, skips each row for one probe).
  for (const g of sameParam)
    where.push(`(${dateRowCondition(g, 'd', p)} OR EXISTS (SELECT 1 FROM sp_date z
      WHERE z.resource_type = d.resource_type AND z.id = d.id
        AND ${indexParamCondition('z', g.code, g.storedAs, (v) => p.add(v))} AND ${dateRowCondition(g, 'z', p)}))`);
  const cmp = driver.descending ? '>' : '<';
  // The one row that orders its resource: no other row of the parameter satisfying the filter
  // comes before it (an exact tie broken by the row's physical address).
  where.push(`NOT EXISTS (SELECT 1 FROM sp_date y
    WHERE y.resource_type = d.resource_type AND y.id = d.id AND y.param = d.param AND ${dateRowCondition(f, 'y', p)}
      AND (y.lo ${cmp} d.lo OR (y.lo = d.lo AND y.ctid ${cmp} d.ctid)))`);
  if (req.cursor && typeof key === 'string')
    where.push(
      `(d.lo, d.id) ${driver.descending ? '<' : '>'} (${keyParam('timestamptz', key, p)}, ${p.add(req.cursor.id)})`,
    );
  const dir = driver.descending ? 'DESC' : 'ASC';
  return `SELECT ${MATCH_COLUMNS}, ${timestampText('d.lo')} AS dk
          FROM sp_date d JOIN resources r ON r.resource_type = d.resource_type AND r.id = d.id
          WHERE ${where.join(' AND ')}
          ORDER BY d.lo ${dir}, d.id ${dir} LIMIT ${limit}`;
}

/**
 * The driving filter's condition on the walked row `d`. On a later page the cursor's keyset,
 * (d.lo, d.id) past the cursor's (lo, id), already bounds `lo` from the same side as the filter
 * when the cursor's lo lies inside it: the filter's bound on `lo` is then left out. Both bounds
 * on the one column made the planner multiply their selectivities (it does not see that one
 * implies the other), expect a few hundred rows instead of tens of thousands, and sort every
 * match of the other filters instead of walking the index from the cursor (issue 22: 100,000
 * buffers, 200 ms, for a page whose walk reads 6,000). A cursor outside the filter (forged) keeps
 * both: the result stays right, only slower.
 */
function drivingRowCondition(
  f: SearchFilter,
  descending: boolean,
  cursorLo: string | undefined,
  p: ParamList,
): string | undefined {
  const range = dateFilterRange(f);
  const at = cursorLo === undefined ? Number.NaN : Date.parse(cursorLo);
  if (range && Number.isFinite(at)) {
    const [prefix, lo, hi] = range;
    // Date.parse drops the cursor's microseconds: at <= cursor < at + 1 ms; the bounds are whole ms.
    if (descending && (prefix === 'lt' || prefix === 'le') && at + 1 <= Date.parse(prefix === 'lt' ? lo : hi))
      return undefined;
    if (!descending && (prefix === 'eq' || prefix === 'ap') && at >= Date.parse(lo)) return `d.hi <= ${p.add(hi)}`;
  }
  return dateRowCondition(f, 'd', p);
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
  const p = new ParamList();
  const r = await q.query<VersionRow>(
    `SELECT DISTINCT ${INCLUDE_COLUMNS}
     FROM sp_reference x
     JOIN resources t ON t.resource_type = split_part(x.target, '/', 1) AND t.id = split_part(x.target, '/', 2)
     WHERE x.resource_type = ${p.add(inc.sourceType)} AND ${indexParamCondition('x', inc.param, inc.storedAs, (v) => p.add(v))}
       AND x.id = ANY(${p.add(ids)}::text[]) AND NOT t.deleted
       AND (${p.add(inc.targetType ?? null)}::text IS NULL OR t.resource_type = ${p.add(inc.targetType ?? null)})`,
    p.values,
  );
  return r.rows.map(toStoredVersion);
}

async function reverseInclude(q: Queryable, inc: IncludeSpec, from: StoredVersion[]): Promise<StoredVersion[]> {
  const targets = from.map((m) => `${m.resourceType}/${m.id}`);
  const p = new ParamList();
  const r = await q.query<VersionRow>(
    `SELECT DISTINCT ${INCLUDE_COLUMNS}
     FROM sp_reference x
     JOIN resources t ON t.resource_type = x.resource_type AND t.id = x.id
     WHERE x.resource_type = ${p.add(inc.sourceType)} AND ${indexParamCondition('x', inc.param, inc.storedAs, (v) => p.add(v))}
       AND x.target = ANY(${p.add(targets)}::text[]) AND NOT t.deleted`,
    p.values,
  );
  return r.rows.map(toStoredVersion);
}
