/**
 * Writes of the combined search index sp_combo (migration 0072): one row per subject reference x
 * code coding of an Observation, with the resource's date range and created_seq, derived in SQL
 * from the index rows the same statement inserts, so that it is written, rewritten and removed
 * exactly with them. src/store/search-combo.ts reads it.
 */

/** The resource type and parameters the combo rows are built from. */
export const COMBO = { resourceType: 'Observation', subject: 'subject', code: 'code', date: 'date' } as const;

export interface ComboSources {
  /** Rows (resource_type, id, param, target) of the references being inserted. */
  references: string;
  /** Rows (resource_type, id, param, system, code) of the tokens being inserted. */
  tokens: string;
  /** Rows (resource_type, id, param, lo, hi) of the dates being inserted. */
  dates: string;
  /** Rows (resource_type, id, created_seq) of the resources written. */
  seqs: string;
}

/** A data-modifying CTE named `ic` inserting the combo rows of the index rows being inserted. */
export function comboInsertCte(s: ComboSources): string {
  return `ic AS (INSERT INTO sp_combo (resource_type, id, subject, system, code, date_lo, date_hi, created_seq)
       SELECT g.t, g.i, g.v, k.s, k.c, coalesce(d.lo, 'infinity'), coalesce(d.hi, '-infinity'), q.seq
       FROM (${s.references}) g(t, i, p, v)
       JOIN (${s.tokens}) k(t, i, p, s, c) ON k.t = g.t AND k.i = g.i AND k.p = '${COMBO.code}' AND k.c IS NOT NULL
       JOIN (${s.seqs}) q(t, i, seq) ON q.t = g.t AND q.i = g.i
       LEFT JOIN (SELECT x.t, x.i, min(x.l) AS lo, max(x.h) AS hi FROM (${s.dates}) x(t, i, p, l, h)
                  WHERE x.p = '${COMBO.date}' GROUP BY x.t, x.i) d ON d.t = g.t AND d.i = g.i
       WHERE g.t = '${COMBO.resourceType}' AND g.p = '${COMBO.subject}')`;
}
