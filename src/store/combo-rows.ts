/**
 * Rows of the combined search index sp_combo (migration 0072): one per subject reference x code
 * coding of an Observation, with the resource's date range, built here from the index rows the
 * write already carries and inserted as plain arrays like the other index rows (no join in SQL: that
 * cost each write about a third more). Only created_seq comes from the statement (the row `r` it
 * writes). src/store/search-combo.ts reads them.
 */

import type { IndexRows } from '../shared/index-rows.ts';

/** The resource type and parameters the combo rows are built from. */
export const COMBO = { resourceType: 'Observation', subject: 'subject', code: 'code', date: 'date' } as const;

/** The combo rows of one resource: subject x coding, all with the same date range. */
export interface ComboRows {
  subjects: string[];
  systems: (string | null)[];
  codes: string[];
  /** Earliest lo of the resource's `date` rows (what _sort=date orders by), 'infinity' without. */
  lo: string;
  /** Latest hi of them (what _sort=-date orders by), '-infinity' without: both sort last, as NULLS LAST. */
  hi: string;
}

/** A date bound as a number, for comparing: the rows hold ISO instants (ms) or ±infinity. */
function instant(v: string): number {
  if (v === 'infinity') return Number.POSITIVE_INFINITY;
  if (v === '-infinity') return Number.NEGATIVE_INFINITY;
  return Date.parse(v);
}

/** The combo rows of a write, undefined when it has none (not an Observation, no subject or no code). */
export function comboRows(resourceType: string, idx: IndexRows | undefined): ComboRows | undefined {
  if (resourceType !== COMBO.resourceType || !idx) return undefined;
  const targets = idx.references.filter(([p]) => p === COMBO.subject).map(([, t]) => t);
  const codings = idx.tokens.filter(([p]) => p === COMBO.code);
  if (targets.length === 0 || codings.length === 0) return undefined;
  let lo = 'infinity';
  let hi = '-infinity';
  for (const [p, l, h] of idx.dates) {
    if (p !== COMBO.date) continue;
    if (instant(l) < instant(lo)) lo = l;
    if (instant(h) > instant(hi)) hi = h;
  }
  const rows: ComboRows = { subjects: [], systems: [], codes: [], lo, hi };
  for (const t of targets)
    for (const [, system, code] of codings) {
      rows.subjects.push(t);
      rows.systems.push(system);
      rows.codes.push(code);
    }
  return rows;
}

/** The combo rows of many writes as column arrays (id, subject, system, code, lo, hi). */
export function comboColumns(writes: readonly { resourceType: string; id: string; index: IndexRows | undefined }[]): {
  count: number;
  columns: unknown[][];
} {
  const cols: [string[], string[], (string | null)[], string[], string[], string[]] = [[], [], [], [], [], []];
  for (const w of writes) {
    const c = comboRows(w.resourceType, w.index);
    if (!c) continue;
    for (let i = 0; i < c.codes.length; i++) {
      cols[0].push(w.id);
      cols[1].push(c.subjects[i] as string);
      cols[2].push(c.systems[i] ?? null);
      cols[3].push(c.codes[i] as string);
      cols[4].push(c.lo);
      cols[5].push(c.hi);
    }
  }
  return { count: cols[0].length, columns: cols };
}

/**
 * A data-modifying CTE `ic` inserting the combo rows of many Observations written by the CTE `r`
 * (which returns resource_type, id, created_seq); `$n` are the six arrays of comboColumns.
 */
export function comboBatchCte(first: number): string {
  const $ = (k: number): string => `$${first + k}`;
  return `ic AS (INSERT INTO sp_combo (resource_type, id, subject, system, code, date_lo, date_hi, created_seq)
       SELECT r.resource_type, x.i, x.s, x.y, x.c, x.l, x.h, r.created_seq
       FROM unnest(${$(0)}::text[], ${$(1)}::text[], ${$(2)}::text[], ${$(3)}::text[], ${$(4)}::timestamptz[], ${$(5)}::timestamptz[]) AS x(i, s, y, c, l, h)
       JOIN r ON r.resource_type = '${COMBO.resourceType}' AND r.id = x.i)`;
}

/**
 * A data-modifying CTE `ic` inserting one resource's combo rows ($1/$2 its type and id, the arrays
 * and bounds of ComboRows from $first), created_seq from `seqs` (one row).
 */
export function comboOneCte(first: number, seqs: string): string {
  const $ = (k: number): string => `$${first + k}`;
  return `ic AS (INSERT INTO sp_combo (resource_type, id, subject, system, code, date_lo, date_hi, created_seq)
       SELECT $1, $2, x.s, x.y, x.c, ${$(3)}::timestamptz, ${$(4)}::timestamptz, (${seqs})
       FROM unnest(${$(0)}::text[], ${$(1)}::text[], ${$(2)}::text[]) AS x(s, y, c))`;
}

/** The parameters comboOneCte reads, in order. */
export function comboOneParams(c: ComboRows): unknown[] {
  return [c.subjects, c.systems, c.codes, c.lo, c.hi];
}
