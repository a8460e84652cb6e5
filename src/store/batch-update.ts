/**
 * Many next versions (updates and deletions of existing rows) in two statements: the outcomes stage
 * rewrites thousands of resources in one recomputation, and one `writeVersion` per resource costs
 * two round trips each.
 */
import { addComboColumns, comboKey, emptyComboColumns } from './combo-rows.ts';
import type { Queryable } from './db.ts';
import { batchTokenCte, ENROLLMENT_TYPES, type VersionWrite } from './resource-store.ts';

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
 * Writes the next version of resources that have a row already (current or deleted): superseded
 * versions move to history, the rows are overwritten and their index rows replaced. Each resource
 * at most once per call.
 */
export async function writeNextVersions(q: Queryable, writes: readonly VersionWrite[]): Promise<void> {
  if (writes.length === 0) return;
  for (const w of writes) q.soleWriter?.written(w.resourceType, w.index);
  const types = writes.map((w) => w.resourceType);
  const ids = writes.map((w) => w.id);
  // Old index rows go first, in their own statement: sub-statements of one WITH run in no defined
  // order, and the unique identifier index must not see the old and new rows together.
  const owners = 'SELECT * FROM unnest($1::text[], $2::text[]) AS k(t, i)';
  const del = (table: string): string =>
    `DELETE FROM ${table} x USING (${owners}) k WHERE x.resource_type = k.t AND x.id = k.i`;
  await q.query(
    `WITH dt AS (${del('sp_token')}), dr AS (${del('sp_reference')}), dd AS (${del('sp_date')})
        , ds AS (${del('sp_string')}), dn AS (${del('sp_number')})
     SELECT 1`,
    [types, ids],
  );
  const params: unknown[] = [
    types,
    ids,
    writes.map((w) => w.versionId),
    writes.map((w) => w.lastUpdated),
    writes.map((w) => w.method === 'DELETE'),
    writes.map((w) => w.method),
    ...indexColumns(writes),
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
  const combo = emptyComboColumns();
  let anyCombo = false;
  for (const w of writes) {
    const key = comboKey(w.resourceType, w.index);
    anyCombo ||= key !== undefined;
    addComboColumns(combo, key, w.index?.tokens ?? []);
  }
  const tokens = batchTokenCte(
    7,
    anyCombo ? params.push(combo.subject, combo.lo, combo.hi, combo.many) - 3 : undefined,
  );
  // Superseded versions move to history in the same statement (CTEs all read the snapshot from
  // before the statement, so `h` copies the old rows while `r` overwrites them).
  await q.query(
    `WITH x AS (SELECT a.t, a.i, a.v, a.u, a.d, a.m, c.c
                  FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::boolean[], $6::text[])
                       WITH ORDINALITY AS a(t, i, v, u, d, m, n)
                  JOIN ${contentRows} WITH ORDINALITY AS c(c, n) ON c.n = a.n)
     , h AS (INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, method, content)
             SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.method, r.content
               FROM resources r JOIN x ON r.resource_type = x.t AND r.id = x.i)
     , r AS (UPDATE resources r SET version_id = x.v, last_updated = x.u, deleted = x.d, content = x.c, method = x.m
               FROM x WHERE r.resource_type = x.t AND r.id = x.i)
     , ${tokens}
     , ir AS (INSERT INTO sp_reference (resource_type, id, param, target)
                SELECT * FROM unnest($12::text[], $13::text[], $14::text[], $15::text[]))
     , idt AS (INSERT INTO sp_date (resource_type, id, param, lo, hi)
                SELECT * FROM unnest($16::text[], $17::text[], $18::text[], $19::timestamptz[], $20::timestamptz[]))
     , iss AS (INSERT INTO sp_string (resource_type, id, param, value)
                SELECT * FROM unnest($21::text[], $22::text[], $23::text[], $24::text[]))
     , inn AS (INSERT INTO sp_number (resource_type, id, param, value, system, code)
                SELECT * FROM unnest($25::text[], $26::text[], $27::text[], $28::numeric[], $29::text[], $30::text[]))
     ${bump}
     SELECT 1`,
    params,
  );
  q.soleWriter?.settled(types);
}
