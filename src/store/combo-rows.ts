/**
 * The combined search index (migration 0072): the `code` token rows of an Observation also carry
 * its subject and date range, indexed by sp_token_combo. Built here from the index rows the write
 * already carries and sent as three more arrays beside the token rows: nothing is derived in SQL
 * (a join over the statement's own rows, a table of its own, or created_seq read back from the
 * statement's insert each cost the write more). src/store/search-combo.ts reads them.
 */

import type { IndexRows } from '../shared/index-rows.ts';

/** The resource type and parameters the combo columns are built from. */
export const COMBO = { resourceType: 'Observation', subject: 'subject', code: 'code', date: 'date' } as const;

/** The combo columns of a resource's token rows, one entry per token row (NULL off the code rows). */
export interface ComboColumns {
  /** NULL without a subject, which keeps the row out of sp_token_combo (the dates stay, for sp_token_code_date). */
  subject: (string | null)[];
  /** Earliest lo of the resource's `date` rows (what _sort=date orders by), 'infinity' without. */
  lo: (string | null)[];
  /** Latest hi of them (what _sort=-date orders by), '-infinity' without: both sort last, as NULLS LAST. */
  hi: (string | null)[];
  /**
   * True when the resource has several `date` rows (Timing.event), NULL otherwise: lo..hi is then
   * not one of its values, and sp_token_code_date (migration 0074) leaves the row out.
   */
  many: (boolean | null)[];
}

/** A date bound as a number, for comparing: the rows hold ISO instants (ms) or ±infinity. */
function instant(v: string): number {
  if (v === 'infinity') return Number.POSITIVE_INFINITY;
  if (v === '-infinity') return Number.NEGATIVE_INFINITY;
  return Date.parse(v);
}

/**
 * The subject (null without one) and date range of an Observation's code rows, undefined when it
 * has no code (then it has no code row). R4 allows one subject; several (invalid, refused by
 * validation before any write) would keep the first.
 */
export function comboKey(
  resourceType: string,
  idx: IndexRows | undefined,
): { subject: string | null; lo: string; hi: string; many: boolean } | undefined {
  if (resourceType !== COMBO.resourceType || !idx) return undefined;
  if (!idx.tokens.some(([p]) => p === COMBO.code)) return undefined;
  const subject = idx.references.find(([p]) => p === COMBO.subject)?.[1] ?? null;
  let lo = 'infinity';
  let hi = '-infinity';
  let n = 0;
  for (const [p, l, h] of idx.dates) {
    if (p !== COMBO.date) continue;
    n++;
    if (instant(l) < instant(lo)) lo = l;
    if (instant(h) > instant(hi)) hi = h;
  }
  return { subject, lo, hi, many: n > 1 };
}

/** Appends the combo columns of one resource's token rows (in idx.tokens order) to `cols`. */
export function addComboColumns(
  cols: ComboColumns,
  key: ReturnType<typeof comboKey>,
  tokens: IndexRows['tokens'],
): void {
  for (const [p] of tokens) {
    const on = key !== undefined && p === COMBO.code;
    cols.subject.push(on ? key.subject : null);
    cols.lo.push(on ? key.lo : null);
    cols.hi.push(on ? key.hi : null);
    cols.many.push(on && key.many ? true : null);
  }
}

export function emptyComboColumns(): ComboColumns {
  return { subject: [], lo: [], hi: [], many: [] };
}
