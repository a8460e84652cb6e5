/**
 * Many first versions in one statement: used where resources are created together (the audit trail's
 * group commit, a transaction's plain creates), so N resources cost one round trip, not N.
 */
import { AUDIT_EVENT_TYPE, addAuditRow, auditInsertCtes, emptyAuditRows } from './audit-store.ts';
import { addComboColumns, comboKey, emptyComboColumns } from './combo-rows.ts';
import type { Queryable } from './db.ts';
import { batchTokenCte, ENROLLMENT_TYPES, type VersionWrite } from './resource-store.ts';

/** `marks`: ResearchSubject ids whose outcomes these writes make stale (see 0005 migration). */
const MARK_SQL = (param: string): string =>
  `INSERT INTO outcome_marks (research_subject_id) SELECT unnest(${param}::text[])`;

/** Marks subjects for outcome recomputation (inside the caller's transaction). */
export async function markOutcomes(q: Queryable, researchSubjectIds: readonly string[]): Promise<void> {
  if (researchSubjectIds.length === 0) return;
  await q.query(MARK_SQL('$1'), [[...new Set(researchSubjectIds)]]);
}

const MAX_CONTENT_PARAMS = 60_000;

/**
 * AuditEvents among the writes go to the audit trail's own tables (audit-store.ts), in the same
 * statement as the rest: a create and its audit record still commit together.
 */
export async function writeFirstVersions(
  q: Queryable,
  allWrites: readonly VersionWrite[],
  marks: readonly string[] = [],
): Promise<void> {
  if (allWrites.length === 0) return;
  const audit = emptyAuditRows();
  const writes: VersionWrite[] = [];
  for (const w of allWrites) {
    if (w.resourceType === AUDIT_EVENT_TYPE && w.content !== undefined)
      addAuditRow(audit, w.id, w.lastUpdated, w.content, w.index);
    else writes.push(w);
  }
  if (writes.length === 0 && marks.length === 0) {
    const params: unknown[] = [];
    await q.query(`WITH ${auditInsertCtes(audit, params)} SELECT 1`, params);
    return;
  }
  const types: string[] = [];
  const ids: string[] = [];
  const updated: string[] = [];
  const contents: (string | null)[] = [];
  const tok: [string[], string[], string[], (string | null)[], string[]] = [[], [], [], [], []];
  const ref: [string[], string[], string[], string[]] = [[], [], [], []];
  const dat: [string[], string[], string[], string[], string[]] = [[], [], [], [], []];
  const str: [string[], string[], string[], string[]] = [[], [], [], []];
  const num: [string[], string[], string[], number[], (string | null)[], (string | null)[]] = [[], [], [], [], [], []];
  const combo = emptyComboColumns();
  let anyCombo = false;
  for (const w of writes) {
    q.soleWriter?.written(w.resourceType, w.index);
    types.push(w.resourceType);
    ids.push(w.id);
    updated.push(w.lastUpdated);
    contents.push(w.content ?? null);
    const idx = w.index;
    if (!idx) continue;
    for (const [p, s, c] of idx.tokens) {
      tok[0].push(w.resourceType);
      tok[1].push(w.id);
      tok[2].push(p);
      tok[3].push(s);
      tok[4].push(c);
    }
    const key = comboKey(w.resourceType, idx);
    anyCombo ||= key !== undefined;
    addComboColumns(combo, key, idx.tokens);
    for (const [p, t] of idx.references) {
      ref[0].push(w.resourceType);
      ref[1].push(w.id);
      ref[2].push(p);
      ref[3].push(t);
    }
    for (const [p, lo, hi] of idx.dates) {
      dat[0].push(w.resourceType);
      dat[1].push(w.id);
      dat[2].push(p);
      dat[3].push(lo);
      dat[4].push(hi);
    }
    for (const [p, v] of idx.strings) {
      str[0].push(w.resourceType);
      str[1].push(w.id);
      str[2].push(p);
      str[3].push(v);
    }
    for (const [p, v, s, c] of idx.numbers) {
      num[0].push(w.resourceType);
      num[1].push(w.id);
      num[2].push(p);
      num[3].push(v);
      num[4].push(s);
      num[5].push(c);
    }
  }
  const bump = types.some((t) => ENROLLMENT_TYPES.has(t))
    ? ', ev AS (UPDATE enrollment_state SET version = version + 1 WHERE id = 1)'
    : '';
  const params: unknown[] = [types, ids, updated, ...tok, ...ref, ...dat, ...str, ...num];
  const tokens = batchTokenCte(
    4,
    anyCombo ? params.push(combo.subject, combo.lo, combo.hi, combo.many) - 3 : undefined,
  );
  const marksParam = marks.length > 0 ? `$${params.push([...new Set(marks)])}` : '';
  // Each body travels as its own text parameter, sent as it is: node-postgres escapes a text[]
  // element character by character in JavaScript, and a JSON array costs an escape in JavaScript
  // and a parse in PostgreSQL; for resource bodies either cost more than the rest of the statement.
  // The protocol allows 65,535 parameters: a larger write (a very large Bundle) sends one JSON array.
  const contentRows =
    contents.length <= MAX_CONTENT_PARAMS
      ? `unnest(ARRAY[${contents.map((c) => `$${params.push(c)}::text`).join(', ')}])`
      : `json_array_elements_text($${params.push(JSON.stringify(contents))}::json)`;
  await q.query(
    `WITH r AS (INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content, method)
                SELECT x.t, x.i, 1, x.u, false, y.c, 'POST'
                  FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS x(t, i, u, n)
                  JOIN ${contentRows} WITH ORDINALITY AS y(c, n) ON y.n = x.n)
     , ${tokens}
     , ir AS (INSERT INTO sp_reference (resource_type, id, param, target)
                SELECT * FROM unnest($9::text[], $10::text[], $11::text[], $12::text[]))
     , idt AS (INSERT INTO sp_date (resource_type, id, param, lo, hi)
                SELECT * FROM unnest($13::text[], $14::text[], $15::text[], $16::timestamptz[], $17::timestamptz[]))
     , iss AS (INSERT INTO sp_string (resource_type, id, param, value)
                SELECT * FROM unnest($18::text[], $19::text[], $20::text[], $21::text[]))
     , inn AS (INSERT INTO sp_number (resource_type, id, param, value, system, code)
                SELECT * FROM unnest($22::text[], $23::text[], $24::text[], $25::numeric[], $26::text[], $27::text[]))
     ${bump}
     ${marksParam ? `, om AS (${MARK_SQL(marksParam)})` : ''}
     ${audit.ids.length > 0 ? `, ${auditInsertCtes(audit, params)}` : ''}
     SELECT 1`,
    params,
  );
  q.soleWriter?.settled(types);
}
