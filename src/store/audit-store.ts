/**
 * The audit trail's own tables (migration 0063): AuditEvents and their search keys, partitioned by
 * month of `recorded`, out of the clinical resource and search index tables. Writes arrive through
 * batch-write.ts (the inline audits of creates and transactions share its one statement) and, for
 * the audit trail's group commit of AuditEvents alone, insertAuditEvents below; reads, searches, `$export` and the retention job read and manage them here.
 */
import type { IndexRows } from '../shared/index-rows.ts';
import type { Queryable } from './db.ts';

export const AUDIT_EVENT_TYPE = 'AuditEvent';

/** The rows of AuditEvents to insert, as column arrays (one entry per event, one per key). */
export interface AuditRows {
  ids: string[];
  recorded: string[];
  contents: string[];
  keys: [recorded: string[], id: string[], param: string[], system: (string | null)[], value: string[]];
}

export function emptyAuditRows(): AuditRows {
  return { ids: [], recorded: [], contents: [], keys: [[], [], [], [], []] };
}

/**
 * Adds one AuditEvent: `recorded` is its `date` index value (AuditEvent.recorded), its keys its
 * reference and token index rows, each once.
 */
export function addAuditRow(
  rows: AuditRows,
  id: string,
  lastUpdated: string,
  content: string,
  index: IndexRows | undefined,
): void {
  const recorded = index?.dates.find(([p]) => p === 'date')?.[1] ?? lastUpdated;
  rows.ids.push(id);
  rows.recorded.push(recorded);
  rows.contents.push(content);
  if (!index) return;
  const seen = new Set<string>();
  const add = (param: string, system: string | null, value: string): void => {
    const key = `${param}\u0000${system ?? ''}\u0000${value}`;
    if (seen.has(key)) return;
    seen.add(key);
    rows.keys[0].push(recorded);
    rows.keys[1].push(id);
    rows.keys[2].push(param);
    rows.keys[3].push(system);
    rows.keys[4].push(value);
  };
  for (const [param, target] of index.references) add(param, null, target);
  for (const [param, system, code] of index.tokens) add(param, system, code);
}

/** CTEs (to join a WITH) inserting these rows; pushes their parameters onto `params`. */
export function auditInsertCtes(rows: AuditRows, params: unknown[]): string {
  const $ = (v: unknown): string => `$${params.push(v)}`;
  // Bodies as text parameters of their own, as batch-write.ts sends resources (node-postgres escapes
  // a text[] element character by character); one JSON array beyond the protocol's parameter limit.
  const contents =
    rows.contents.length <= 10_000
      ? `unnest(ARRAY[${rows.contents.map((c) => `${$(c)}::text`).join(', ')}])`
      : `json_array_elements_text(${$(JSON.stringify(rows.contents))}::json)`;
  return `ae AS (INSERT INTO audit_events (id, recorded, content)
                SELECT x.i, x.r, y.c
                  FROM unnest(${$(rows.ids)}::text[], ${$(rows.recorded)}::timestamptz[]) WITH ORDINALITY AS x(i, r, n)
                  JOIN ${contents} WITH ORDINALITY AS y(c, n) ON y.n = x.n)
     , ak AS (INSERT INTO audit_event_keys (recorded, id, param, system, value)
                SELECT * FROM unnest(${$(rows.keys[0])}::timestamptz[], ${$(rows.keys[1])}::text[], ${$(rows.keys[2])}::text[],
                                     ${$(rows.keys[3])}::text[], ${$(rows.keys[4])}::text[]))`;
}

/** The largest group commit sent as a prepared statement (one per batch size and connection). */
const PREPARED_UP_TO = 8;

/**
 * Inserts AuditEvents and nothing else (the audit trail's group commit): one statement, the same
 * as batch-write.ts sends for them. A batch of up to PREPARED_UP_TO events goes as a statement
 * prepared once per connection and size (its text depends only on the size): PostgreSQL then
 * skips parsing and planning the two partitioned inserts, about 0.3 ms of the 1.2 ms a single
 * durable audit write took (2026-12-06). PGlite ignores the name.
 */
export async function insertAuditEvents(
  q: Queryable,
  events: readonly { id: string; lastUpdated: string; content: string; index: IndexRows | undefined }[],
): Promise<void> {
  if (events.length === 0) return;
  const rows = emptyAuditRows();
  for (const e of events) addAuditRow(rows, e.id, e.lastUpdated, e.content, e.index);
  const params: unknown[] = [];
  const text = `WITH ${auditInsertCtes(rows, params)} SELECT 1`;
  await q.query(text, params, events.length <= PREPARED_UP_TO ? `audit_insert_${events.length}` : undefined);
}

export interface StoredAuditEvent {
  id: string;
  /** ISO instant, microseconds (the paging key). */
  recorded: string;
  content: string;
}

/** One key condition: the event has a key of `param` matching one of the alternatives. */
export interface AuditKeyFilter {
  param: string;
  /** `system` undefined: any system; null: no system. */
  anyOf: { system?: string | null | undefined; value: string }[];
}

export interface AuditQuery {
  /** recorded >= from (ISO instant). */
  from?: string | undefined;
  /** recorded < to. */
  to?: string | undefined;
  ids?: readonly string[] | undefined;
  keys: readonly AuditKeyFilter[];
  newestFirst: boolean;
  count: number;
  /** Keyset: the last event of the previous page. */
  after?: { recorded: string; id: string } | undefined;
  total: boolean;
}

export interface AuditPage {
  events: StoredAuditEvent[];
  total: number | undefined;
  next: { recorded: string; id: string } | undefined;
}

function keyCondition(alias: string, f: AuditKeyFilter, add: (v: unknown) => string): string {
  const alternatives = f.anyOf.map((a) => {
    const value = `${alias}.value = ${add(a.value)}`;
    if (a.system === undefined) return value;
    if (a.system === null) return `(${value} AND ${alias}.system IS NULL)`;
    return `(${value} AND ${alias}.system = ${add(a.system)})`;
  });
  return `${alias}.param = ${add(f.param)} AND (${alternatives.join(' OR ')})`;
}

/**
 * One page of AuditEvents, ordered by `recorded` (then id). With a key filter the page is read from
 * the key index of the first one ((param, value, recorded, id): "who accessed this patient's data in
 * the last month" is one index range, limited before the events are joined); the others are checked
 * per candidate. Every condition on `recorded` is repeated on the keys, so whole months are pruned.
 */
export async function searchAuditEvents(q: Queryable, query: AuditQuery): Promise<AuditPage> {
  const params: unknown[] = [];
  const add = (v: unknown): string => `$${params.push(v)}`;
  const range = (alias: string): string[] => {
    const out: string[] = [];
    if (query.from) out.push(`${alias}.recorded >= ${add(query.from)}::timestamptz`);
    if (query.to) out.push(`${alias}.recorded < ${add(query.to)}::timestamptz`);
    return out;
  };
  const dir = query.newestFirst ? 'DESC' : 'ASC';
  const [driver, ...others] = query.keys;
  const source = driver ? 'k' : 'a';
  const where = [...range(source)];
  if (query.ids) where.push(`${source}.id = ANY(${add([...query.ids])}::text[])`);
  if (driver) where.push(keyCondition('k', driver, add));
  for (const f of others) {
    where.push(`EXISTS (SELECT 1 FROM audit_event_keys o WHERE o.recorded = ${source}.recorded AND o.id = ${source}.id
                        AND ${range('o').join(' AND ') || 'TRUE'} AND ${keyCondition('o', f, add)})`);
  }
  const distinct = driver && driver.anyOf.length > 1 ? 'DISTINCT ' : '';
  const table = driver ? 'audit_event_keys k' : 'audit_events a';
  const countParams = [...params];
  const whereCount = where.length ? where.join(' AND ') : 'TRUE';

  let total: number | undefined;
  if (query.total) {
    const r = await q.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (SELECT ${distinct}${source}.recorded, ${source}.id FROM ${table} WHERE ${whereCount}) c`,
      countParams,
    );
    total = Number(r.rows[0]?.n ?? 0);
  }
  if (query.count === 0) return { events: [], total, next: undefined };

  if (query.after) {
    const cmp = query.newestFirst ? '<' : '>';
    where.push(
      `(${source}.recorded, ${source}.id) ${cmp} (${add(query.after.recorded)}::timestamptz, ${add(query.after.id)}::text)`,
    );
  }
  const limit = query.count + 1;
  const matches = `SELECT ${distinct}${source}.recorded, ${source}.id FROM ${table}
                    WHERE ${where.join(' AND ') || 'TRUE'}
                    ORDER BY ${source}.recorded ${dir}, ${source}.id ${dir} LIMIT ${limit}`;
  const r = await q.query<StoredAuditEvent>(
    `SELECT e.id, to_char(e.recorded AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded, e.content
       FROM (${matches}) m
       JOIN audit_events e ON e.recorded = m.recorded AND e.id = m.id
      ORDER BY e.recorded ${dir}, e.id ${dir}`,
    params,
  );
  const events = r.rows.slice(0, query.count);
  const last = events[events.length - 1];
  const next = r.rows.length > query.count && last ? { recorded: last.recorded, id: last.id } : undefined;
  return { events, total, next };
}

/** One batch of an AuditEvent `$export`: rows with their position (`recorded` in microseconds since 1970). */
export interface AuditExportRow {
  seq: string;
  content: string;
}

const MICROS_SQL = `(extract(epoch FROM recorded) * 1000000)::bigint::text`;
const FROM_MICROS = (param: string): string => `('epoch'::timestamptz + ${param}::bigint * interval '1 microsecond')`;

/**
 * The next batch of AuditEvents for `$export`, oldest first after `afterMicros`, recorded up to the
 * export's transaction time and after `since`. The position is the instant alone (the job keeps one
 * bigint), so a batch never ends inside an instant: every event of its last instant is included,
 * and fewer than `limit` rows means the end.
 */
export async function readAuditExportBatch(
  q: Queryable,
  b: { afterMicros: string; transactionTime: string; since: string | undefined; limit: number },
): Promise<AuditExportRow[]> {
  const params: unknown[] = [b.afterMicros, b.transactionTime];
  const since = b.since ? ` AND recorded > $${params.push(b.since)}::timestamptz` : '';
  const where = `recorded > ${FROM_MICROS('$1')} AND recorded <= $2::timestamptz${since}`;
  const limit = Math.trunc(b.limit);
  const rows = (
    await q.query<AuditExportRow>(
      `SELECT ${MICROS_SQL} AS seq, content FROM audit_events WHERE ${where} ORDER BY recorded, id LIMIT ${limit}`,
      params,
    )
  ).rows;
  const last = rows[rows.length - 1];
  if (rows.length < limit || !last) return rows;
  const ties = await q.query<AuditExportRow>(
    `SELECT ${MICROS_SQL} AS seq, content FROM audit_events WHERE recorded = ${FROM_MICROS('$1')} ORDER BY id`,
    [last.seq],
  );
  return [...rows.filter((r) => r.seq !== last.seq), ...ties.rows];
}

// ---------------------------------------------------------------------------------------------
// Partitions: one per month of `recorded` (UTC), in both tables, named audit_events_yYYYYmMM and
// audit_event_keys_yYYYYmMM. A month is (year, month 1-12) and written as 'YYYY-MM'.

const TABLES = ['audit_events', 'audit_event_keys'] as const;

/** The month [lo, hi) as instants. */
function monthBounds(month: string): [string, string] {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return [new Date(Date.UTC(y, m - 1, 1)).toISOString(), new Date(Date.UTC(y, m, 1)).toISOString()];
}

function suffix(month: string): string {
  if (!/^\d{4}-\d{2}$/.test(month)) throw new Error(`AUDIT_MONTH_INVALID: ${month}`);
  return `y${month.slice(0, 4)}m${month.slice(5, 7)}`;
}

/** The monthly partitions of audit_events, as months ('YYYY-MM'), oldest first. */
export async function auditPartitionMonths(q: Queryable): Promise<string[]> {
  const r = await q.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'audit_events'::regclass`,
  );
  const months: string[] = [];
  for (const { name } of r.rows) {
    const m = /^audit_events_y(\d{4})m(\d{2})$/.exec(name);
    if (m) months.push(`${m[1]}-${m[2]}`);
  }
  return months.sort();
}

/** The months of the events in the default partitions (recorded outside every monthly partition). */
export async function auditMonthsInDefault(q: Queryable): Promise<string[]> {
  const r = await q.query<{ month: string }>(
    `SELECT DISTINCT to_char(date_trunc('month', recorded AT TIME ZONE 'UTC'), 'YYYY-MM') AS month
       FROM audit_events_default`,
  );
  return r.rows.map((row) => row.month).sort();
}

/**
 * Creates the month's partition of both tables, if missing. Events of that month waiting in a
 * default partition move into it first (a partition cannot be attached over rows the default holds).
 */
export async function createAuditPartition(q: Queryable, month: string): Promise<boolean> {
  const s = suffix(month);
  const exists = await q.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`audit_events_${s}`]);
  if (exists.rows[0]?.t) return false;
  const [lo, hi] = monthBounds(month);
  for (const table of TABLES) {
    const part = `${table}_${s}`;
    await q.exec(`CREATE TABLE ${part} (LIKE ${table} INCLUDING DEFAULTS)`);
    await q.query(
      `WITH moved AS (DELETE FROM ${table}_default WHERE recorded >= $1::timestamptz AND recorded < $2::timestamptz RETURNING *)
       INSERT INTO ${part} SELECT * FROM moved`,
      [lo, hi],
    );
    await q.exec(`ALTER TABLE ${table} ATTACH PARTITION ${part} FOR VALUES FROM ('${lo}') TO ('${hi}')`);
  }
  return true;
}

/** Detaches and drops the month's partition of both tables (the retention job's only deletion). */
export async function dropAuditPartition(q: Queryable, month: string): Promise<void> {
  const s = suffix(month);
  for (const table of TABLES) {
    const part = `${table}_${s}`;
    const exists = await q.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [part]);
    if (!exists.rows[0]?.t) continue;
    await q.exec(`ALTER TABLE ${table} DETACH PARTITION ${part}`);
    await q.exec(`DROP TABLE ${part}`);
  }
}

/**
 * The partitions' advisory lock: one per schema (the partitions are the schema's), so that stores
 * sharing a server in other schemas never wait for each other.
 */
export const AUDIT_PARTITION_LOCK_SQL = "hashtext(current_schema() || ':audit-partitions')";

/**
 * Runs fn in a transaction holding the audit partitions' advisory lock, or not at all (undefined)
 * when another instance holds it: partition DDL from two instances at once would collide.
 */
export async function withAuditPartitionLock<T>(
  db: { transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> },
  fn: (tx: Queryable) => Promise<T>,
): Promise<T | undefined> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(${AUDIT_PARTITION_LOCK_SQL}) AS ok`);
    if (!r.rows[0]?.ok) return undefined;
    return fn(tx);
  });
}
