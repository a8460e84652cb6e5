/**
 * Many next versions (updates and deletions of existing rows) in two statements: the outcomes stage
 * rewrites thousands of resources in one recomputation, and one `writeVersion` per resource costs
 * two round trips each.
 */
import { addComboColumns, comboKey, emptyComboColumns } from './combo-rows.ts';
import type { Queryable } from './db.ts';
import { ENROLLMENT_TYPES, type VersionWrite } from './resource-store.ts';

/** Bodies beyond this travel as one JSON array (the protocol allows 65,535 parameters). */
const MAX_CONTENT_PARAMS = 60_000;

/** The writes' index rows as the column arrays of the five index tables (owner first). */
function indexColumns(writes: readonly VersionWrite[]): unknown[][] {
  const tok: unknown[][] = [[], [], [], [], []];
  const ref: unknown[][] = [[], [], [], []];
  const dat: unknown[][] = [[], [], [], [], []];
  const str: unknown[][] = [[], [], [], []];
  const num: unknown[][] = [[], [], [], [], [], []];
  const add = (cols: unknown[][], w: VersionWrite, row: readonly unknown[]): void => {
    cols[0]?.push(w.resourceType);
    cols[1]?.push(w.id);
    for (const [i, v] of row.entries()) cols[i + 2]?.push(v);
  };
  for (const w of writes) {
    const idx = w.index;
    if (!idx) continue;
    for (const row of idx.tokens) add(tok, w, row);
    for (const row of idx.references) add(ref, w, row);
    for (const row of idx.dates) add(dat, w, row);
    for (const row of idx.strings) add(str, w, row);
    for (const row of idx.numbers) add(num, w, row);
  }
  return [...tok, ...ref, ...dat, ...str, ...num];
}

/**
 * Each index table's columns after (resource_type, id), with their SQL array types: the order of
 * indexColumns' arrays (sp_token's combo columns last, sent after the others).
 */
const TABLES = [
  { table: 'sp_token', cols: ['param', 'system', 'code'], types: ['text', 'text', 'text'] },
  { table: 'sp_reference', cols: ['param', 'target'], types: ['text', 'text'] },
  { table: 'sp_date', cols: ['param', 'lo', 'hi'], types: ['text', 'timestamptz', 'timestamptz'] },
  { table: 'sp_string', cols: ['param', 'value'], types: ['text', 'text'] },
  { table: 'sp_number', cols: ['param', 'value', 'system', 'code'], types: ['text', 'numeric', 'text', 'text'] },
] as const;
const COMBO_COLS = ['subject', 'date_lo', 'date_hi', 'date_many'];
const COMBO_TYPES = ['text', 'timestamptz', 'timestamptz', 'boolean'];
/** indexColumns' arrays: (resource_type, id) and the columns of each table. */
const INDEX_ARRAYS = TABLES.reduce((n, t) => n + 2 + t.cols.length, 0);

/**
 * For each index table, the written rows as a relation `n<k>` (columns t, i, then the table's) and
 * the text of a row's values for comparing (`ROW(…)::text`: exact, NULL and '' apart, and
 * hashable, so that old and new rows are matched by a hash join, never a loop over both).
 * `first` is the parameter number of the first of indexColumns' arrays, the combo arrays after them.
 */
function writtenRows(first: number): { rows: string[]; key: (alias: string, k: number) => string } {
  let n = first;
  const combo = first + INDEX_ARRAYS;
  const rows = TABLES.map(({ cols, types }, k) => {
    const arrays = [`$${n++}::text[]`, `$${n++}::text[]`, ...types.map((t) => `$${n++}::${t}[]`)];
    const extra = k === 0 ? COMBO_TYPES.map((t, j) => `$${combo + j}::${t}[]`) : [];
    const names = ['t', 'i', ...cols, ...(k === 0 ? COMBO_COLS : [])];
    return `n${k} AS (SELECT * FROM unnest(${[...arrays, ...extra].join(', ')}) AS a(${names.join(', ')}))`;
  });
  const key = (alias: string, k: number): string => {
    const cols = [...(TABLES[k]?.cols ?? []), ...(k === 0 ? COMBO_COLS : [])];
    return `ROW(${cols.map((c) => `${alias}.${c}`).join(', ')})::text`;
  };
  return { rows, key };
}

/**
 * Writes the next version of resources that have a row already (current or deleted): superseded
 * versions move to history, the rows are overwritten, and their index rows are brought to the new
 * version's: only the rows that differ are deleted and inserted, as HAPI FHIR does. A recomputed
 * outcome is amended with one source more or one value changed, and replacing all its rows (a
 * time-in-range Observation and its 80 `derived-from` rows at a year's troughs) wrote, and left
 * for vacuum, a hundred times what changed. Each resource at most once per call.
 */
export async function writeNextVersions(q: Queryable, writes: readonly VersionWrite[]): Promise<void> {
  if (writes.length === 0) return;
  for (const w of writes) q.soleWriter?.written(w.resourceType, w.index);
  const types = writes.map((w) => w.resourceType);
  const ids = writes.map((w) => w.id);
  const combo = emptyComboColumns();
  for (const w of writes) addComboColumns(combo, comboKey(w.resourceType, w.index), w.index?.tokens ?? []);
  const index = [...indexColumns(writes), combo.subject, combo.lo, combo.hi, combo.many];
  // Rows no longer written go first, in their own statement: sub-statements of one WITH run in no
  // defined order, and the unique identifier index must not see an old and a new row together.
  {
    const { rows, key } = writtenRows(3);
    const del = ({ table }: (typeof TABLES)[number], k: number): string =>
      `d${k} AS (DELETE FROM ${table} x USING k WHERE x.resource_type = k.t AND x.id = k.i
         AND NOT EXISTS (SELECT 1 FROM n${k} WHERE n${k}.t = x.resource_type AND n${k}.i = x.id
                           AND ${key(`n${k}`, k)} = ${key('x', k)}))`;
    await q.query(
      `WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(t, i)), ${rows.join(', ')}, ${TABLES.map(del).join(', ')}
       SELECT 1`,
      [types, ids, ...index],
    );
  }
  const params: unknown[] = [
    types,
    ids,
    writes.map((w) => w.versionId),
    writes.map((w) => w.lastUpdated),
    writes.map((w) => w.method === 'DELETE'),
    writes.map((w) => w.method),
    ...index,
  ];
  const contents = writes.map((w) => w.content ?? null);
  // Each body as its own text parameter (see writeFirstVersions for why).
  const contentRows =
    contents.length <= MAX_CONTENT_PARAMS
      ? `unnest(ARRAY[${contents.map((c) => `$${params.push(c)}::text`).join(', ')}])`
      : `json_array_elements_text($${params.push(JSON.stringify(contents))}::json)`;
  const bump = types.some((t) => ENROLLMENT_TYPES.has(t))
    ? ', ev AS (UPDATE enrollment_state SET version = version + 1 WHERE id = 1)'
    : '';
  const { rows, key } = writtenRows(7);
  // The rows each resource keeps (read per resource: by its owner index, whatever the statistics),
  // and the written rows that are not among them.
  const ins = ({ table, cols }: (typeof TABLES)[number], k: number): string => {
    const all = [...cols, ...(k === 0 ? COMBO_COLS : [])];
    return `o${k} AS (SELECT y.resource_type AS t, y.id AS i, ${key('y', k)} AS r FROM k
                 CROSS JOIN LATERAL (SELECT * FROM ${table} y WHERE y.resource_type = k.t AND y.id = k.i OFFSET 0) y)
     , i${k} AS (INSERT INTO ${table} (resource_type, id, ${all.join(', ')})
                 SELECT n${k}.t, n${k}.i, ${all.map((c) => `n${k}.${c}`).join(', ')} FROM n${k}
                  WHERE NOT EXISTS (SELECT 1 FROM o${k} WHERE o${k}.t = n${k}.t AND o${k}.i = n${k}.i
                                      AND o${k}.r = ${key(`n${k}`, k)}))`;
  };
  // Superseded versions move to history in the same statement (CTEs all read the snapshot from
  // before the statement, so `h` copies the old rows while `r` overwrites them).
  await q.query(
    `WITH x AS (SELECT a.t, a.i, a.v, a.u, a.d, a.m, c.c
                  FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::boolean[], $6::text[])
                       WITH ORDINALITY AS a(t, i, v, u, d, m, n)
                  JOIN ${contentRows} WITH ORDINALITY AS c(c, n) ON c.n = a.n)
     , k AS (SELECT x.t, x.i FROM x)
     , h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, method, content)
             SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.method, r.content
               FROM resources r JOIN x ON r.resource_type = x.t AND r.id = x.i)
     , r AS (UPDATE resources r SET version_id = x.v, last_updated = x.u, deleted = x.d, content = x.c, method = x.m
               FROM x WHERE r.resource_type = x.t AND r.id = x.i)
     , ${rows.join(', ')}
     , ${TABLES.map(ins).join('\n     , ')}
     ${bump}
     SELECT 1`,
    params,
  );
  q.soleWriter?.settled(types);
}
