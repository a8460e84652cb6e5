/**
 * Translates one search filter into a SQL condition on `r` (the resources row), adding its values
 * to `params`. Index tables hold the current version only, so EXISTS subqueries are exact.
 */

import { parseDateRange } from '../shared/date-range.ts';
import { normaliseReference, normaliseString } from '../shared/index-rows.ts';
import { badRequest, fail } from '../shared/outcomes.ts';
import type { SearchFilter } from '../shared/search-request.ts';
import { indexParamCondition } from './stored-as.ts';

const TABLE: Record<string, string> = {
  token: 'sp_token',
  uri: 'sp_token',
  reference: 'sp_reference',
  date: 'sp_date',
  string: 'sp_string',
  number: 'sp_number',
  quantity: 'sp_number',
};

export type Prefix = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'sa' | 'eb' | 'ap';
const PREFIX_RE = /^(eq|ne|lt|le|gt|ge|sa|eb|ap)/;

function splitPrefix(v: string): [Prefix, string] {
  const m = PREFIX_RE.exec(v);
  return m ? [m[1] as Prefix, v.slice(2)] : ['eq', v];
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export class ParamList {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** Conditions on a [lo, hi) range for a FHIR date prefix (search.html#prefix). */
function rangeCondition(prefix: Prefix, lo: string, hi: string, colLo: string, colHi: string, p: ParamList): string {
  const L = () => p.add(lo);
  const H = () => p.add(hi);
  switch (prefix) {
    case 'eq':
    case 'ap':
      return `(${colLo} >= ${L()} AND ${colHi} <= ${H()})`;
    case 'ne':
      return `NOT (${colLo} >= ${L()} AND ${colHi} <= ${H()})`;
    case 'lt':
      return `${colLo} < ${L()}`;
    case 'le':
      return `${colLo} < ${H()}`;
    case 'gt':
      return `${colHi} > ${H()}`;
    case 'ge':
      return `${colHi} > ${L()}`;
    case 'sa':
      return `${colLo} >= ${H()}`;
    case 'eb':
      return `${colHi} <= ${L()}`;
  }
}

function dateValue(code: string, raw: string): [Prefix, string, string] {
  const [prefix, value] = splitPrefix(raw);
  const range = parseDateRange(value);
  if (!range) fail(badRequest(`Invalid date for ${code}: ${raw}`, code));
  return [prefix, range.lo, range.hi];
}

/** A date filter's value alternatives (OR) tested on one index row `alias` of sp_date. */
export function dateRowCondition(f: SearchFilter, alias: string, p: ParamList): string {
  return dateRangeCondition(f, `${alias}.lo`, `${alias}.hi`, p);
}

/** A date filter's condition on one range held in the columns `lo` and `hi`. */
export function dateRangeCondition(f: SearchFilter, lo: string, hi: string, p: ParamList): string {
  const parts = f.values.map((raw) => {
    const [prefix, l, h] = dateValue(f.code, raw);
    return rangeCondition(prefix, l, h, lo, hi, p);
  });
  return `(${parts.join(' OR ')})`;
}

/** The prefix and range of a date filter's one value. */
export function dateFilterRange(f: SearchFilter): [prefix: Prefix, lo: string, hi: string] | undefined {
  const [raw] = f.values;
  return f.values.length === 1 && raw !== undefined ? dateValue(f.code, raw) : undefined;
}

function numberCondition(code: string, raw: string, p: ParamList): string {
  const [prefix, rest] = splitPrefix(raw);
  const [num = '', system, unit] = rest.split('|');
  const n = Number(num);
  if (num === '' || Number.isNaN(n)) fail(badRequest(`Invalid number for ${code}: ${raw}`, code));
  // Equality honours the precision written: 5.4 matches [5.35, 5.45).
  const decimals = num.includes('.') ? num.length - num.indexOf('.') - 1 : 0;
  const half = 0.5 * 10 ** -decimals;
  // Bind only what the condition uses: PostgreSQL cannot type a parameter that appears nowhere.
  let cond: string;
  if (prefix === 'lt') cond = `x.value < ${p.add(n)}`;
  else if (prefix === 'le') cond = `x.value <= ${p.add(n)}`;
  else if (prefix === 'gt') cond = `x.value > ${p.add(n)}`;
  else if (prefix === 'ge') cond = `x.value >= ${p.add(n)}`;
  else if (prefix === 'eq' || prefix === 'ap')
    cond = `(x.value >= ${p.add(n - half)} AND x.value < ${p.add(n + half)})`;
  else cond = rangeCondition(prefix, String(n - half), String(n + half), 'x.value', 'x.value', p);
  if (system) cond += ` AND x.system = ${p.add(system)}`;
  if (unit) cond += ` AND x.code = ${p.add(unit)}`;
  return cond;
}

function valueCondition(f: SearchFilter, raw: string, p: ParamList, baseUrl: string): string {
  switch (f.type) {
    case 'token':
    case 'uri': {
      const bar = raw.indexOf('|');
      if (bar < 0 || f.type === 'uri') return `x.code = ${p.add(raw)}`;
      const system = raw.slice(0, bar);
      const code = raw.slice(bar + 1);
      if (system === '') return `(x.system IS NULL AND x.code = ${p.add(code)})`;
      if (code === '') return `x.system = ${p.add(system)}`;
      return `(x.system = ${p.add(system)} AND x.code = ${p.add(code)})`;
    }
    case 'reference': {
      const ref = normaliseReference(raw, baseUrl);
      if (ref.includes('/')) return `x.target = ${p.add(ref)}`;
      if (f.targets.length > 0) return `x.target = ANY(${p.add(f.targets.map((t) => `${t}/${ref}`))}::text[])`;
      return `x.target LIKE ${p.add(`%/${escapeLike(ref)}`)}`;
    }
    case 'date': {
      const [prefix, lo, hi] = dateValue(f.code, raw);
      return rangeCondition(prefix, lo, hi, 'x.lo', 'x.hi', p);
    }
    case 'string': {
      const v = normaliseString(raw);
      if (f.modifier === 'exact') return `x.value = ${p.add(v)}`;
      if (f.modifier === 'contains') return `x.value LIKE ${p.add(`%${escapeLike(v)}%`)}`;
      return `x.value LIKE ${p.add(`${escapeLike(v)}%`)}`;
    }
    case 'number':
    case 'quantity':
      return numberCondition(f.code, raw, p);
    default:
      fail(badRequest(`Unsupported parameter ${f.code}`, f.code));
  }
}

export function filterCondition(f: SearchFilter, p: ParamList, baseUrl: string): string {
  if (f.type === 'id') {
    const cond = `r.id = ANY(${p.add(f.values)}::text[])`;
    return f.modifier === 'not' ? `NOT (${cond})` : cond;
  }
  if (f.type === 'lastUpdated') {
    const parts = f.values.map((raw) => {
      const [prefix, lo, hi] = dateValue(f.code, raw);
      // last_updated is an instant: the range [t, t + 1 ms).
      return rangeCondition(prefix, lo, hi, 'r.last_updated', "(r.last_updated + interval '1 millisecond')", p);
    });
    return `(${parts.join(' OR ')})`;
  }
  const table = TABLE[f.type];
  const owner = `x.resource_type = r.resource_type AND x.id = r.id AND ${indexParamCondition('x', f.code, f.storedAs, (v) => p.add(v))}`;
  if (f.modifier === 'missing') {
    const exists = `EXISTS (SELECT 1 FROM ${table} x WHERE ${owner})`;
    return f.values[0] === 'true' ? `NOT ${exists}` : exists;
  }
  const alternatives = f.values.map((v) => valueCondition(f, v, p, baseUrl)).join(' OR ');
  const exists = `EXISTS (SELECT 1 FROM ${table} x WHERE ${owner} AND (${alternatives}))`;
  return f.modifier === 'not' ? `NOT ${exists}` : exists;
}

/** Repeats of one parameter from which they share one condition. */
const FOLD_FROM = 3;

/** Whether repeats of this filter can share one condition: value filters on an index table. */
function combinable(f: SearchFilter): boolean {
  return f.type in TABLE && f.modifier !== 'missing';
}

/**
 * Every filter, with three or more repeats of one parameter (`code=a&code=b&code=c`) folded into a single condition:
 * one join per repeat made the planner's work grow steeply with their number (a few hundred repeats
 * ran for minutes). Repeats AND (search.html#combining), so the resource must have, for each repeat,
 * an index row matching one of its comma-separated values: one pass over the parameter's rows,
 * grouped by resource. Repeats of :not exclude every value named, so they fold into one NOT EXISTS.
 */
export function filterConditions(
  resourceType: string,
  filters: readonly SearchFilter[],
  p: ParamList,
  baseUrl: string,
): string[] {
  const groups = new Map<string, SearchFilter[]>();
  const out: (string | SearchFilter[])[] = [];
  for (const f of filters) {
    if (!combinable(f)) {
      out.push(filterCondition(f, p, baseUrl));
      continue;
    }
    const key = `${f.code}\u0000${f.modifier ?? ''}\u0000${f.targets.join(',')}`;
    const group = groups.get(key);
    if (group) group.push(f);
    else {
      const fresh = [f];
      groups.set(key, fresh);
      out.push(fresh);
    }
  }
  return out.map((item) => {
    if (typeof item === 'string') return item;
    const [first] = item;
    if (!first) return 'TRUE';
    // One or two repeats (a date range, say) keep a correlated EXISTS each, which the planner can
    // drive from a more selective parameter; the grouped pass reads every row of the parameter.
    if (item.length < FOLD_FROM) return item.map((f) => filterCondition(f, p, baseUrl)).join(' AND ');
    if (first.modifier === 'not')
      return filterCondition({ ...first, values: item.flatMap((f) => f.values) }, p, baseUrl);
    const table = TABLE[first.type];
    const each = item.map((f) => `(${f.values.map((v) => valueCondition(f, v, p, baseUrl)).join(' OR ')})`);
    return `r.id IN (SELECT x.id FROM ${table} x
      WHERE x.resource_type = ${p.add(resourceType)} AND ${indexParamCondition('x', first.code, first.storedAs, (v) => p.add(v))} AND (${each.join(' OR ')})
      GROUP BY x.id HAVING ${each.map((c) => `bool_or(${c})`).join(' AND ')})`;
  });
}
