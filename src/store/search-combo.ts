/**
 * Searches served by the combined index (migration 0072, src/store/combo-rows.ts): one subject (or
 * patient) and one code, sorted by date, e.g.
 * `Observation?patient=X&code=http://loinc.org|777-3&_sort=-date`. The page is one ordered range
 * of sp_token_combo (the code token rows carrying subject and dates) from the cursor, instead of
 * every result of the subject tested for the code and sorted. Same order, same cursor as the general sorted search (search-store.ts sortedSql):
 * date_hi is max(hi) of the resource's date rows ('-infinity' for none, which sorts last newest
 * first), date_lo min(lo) ('infinity' for none, last oldest first), ties by the resource's
 * created_seq (read from `resources`, not kept on the index row: an incremental sort of the ties).
 * Any other filter is the usual condition, unchanged.
 *
 * A resource with several code rows matching (two codings of the code) is one match. Removing
 * those repeats in the statement (DISTINCT ON) cost every page a read of all the subject's rows of
 * the code: PostgreSQL 15 sorts a DISTINCT's input in full (an incremental sort there came with 16),
 * so newest first fetched and sorted all 125 resources of a patient's measure for a page of 20
 * (issue 22). So the statement is first run without it, which PostgreSQL answers walking the index
 * and sorting only each date's ties; when that page holds a resource twice, which only a resource
 * with repeated codings gives, the same page is read again with DISTINCT ON (comboPageRows).
 */

import { createHash } from 'node:crypto';
import { normaliseReference } from '../shared/index-rows.ts';
import { badRequest, fail } from '../shared/outcomes.ts';
import type { SearchFilter, SearchRequest } from '../shared/search-request.ts';
import { COMBO } from './combo-rows.ts';
import type { Queryable } from './db.ts';
import { ParamList } from './search-conditions.ts';

export interface ComboPlan {
  /** The reference target the subject filter names, exactly as indexed. */
  subject: string;
  system: string | undefined;
  code: string;
  descending: boolean;
  /** The filters the combo row answers (left out of the other conditions). */
  answered: readonly SearchFilter[];
}

/** The one exact target of a reference filter, when it names one. */
function oneTarget(f: SearchFilter, baseUrl: string): string | undefined {
  const [raw] = f.values;
  if (f.modifier !== undefined || f.values.length !== 1 || raw === undefined) return undefined;
  const ref = normaliseReference(raw, baseUrl);
  if (ref.includes('/')) return ref;
  const [type] = f.targets;
  return f.targets.length === 1 && type ? `${type}/${ref}` : undefined;
}

/** A search sorted by date with one subject and one code: pages read from sp_token_combo in order. */
export function comboPlan(req: SearchRequest, baseUrl: string): ComboPlan | undefined {
  const [key] = req.sort;
  if (req.sort.length !== 1 || !key || key.type !== 'date' || key.code !== COMBO.date) return undefined;
  // A cursor from before keysets (an offset) continues as it began.
  if (req.cursor && req.cursor.keys === undefined) return undefined;
  return comboMatch(req, baseUrl, key.descending);
}

/**
 * Any other search with one subject and one code (no _sort, a date filter, a count): both filters
 * as one probe of sp_token_combo, so the planner can start from the subject's rows of that code
 * instead of every row of the subject. The same matches: a code row carries the subject exactly
 * when the resource has both index rows.
 */
export function comboCondition(
  req: SearchRequest,
  p: ParamList,
  baseUrl: string,
): { answered: readonly SearchFilter[]; sql: string } | undefined {
  const plan = comboMatch(req, baseUrl, true);
  if (!plan) return undefined;
  const system =
    plan.system === ''
      ? ' AND c.system IS NULL'
      : plan.system !== undefined
        ? ` AND c.system = ${p.add(plan.system)}`
        : '';
  return {
    answered: plan.answered,
    sql: `EXISTS (SELECT 1 FROM sp_token c WHERE c.resource_type = r.resource_type AND c.id = r.id
            AND c.subject = ${p.add(plan.subject)} AND c.code = ${p.add(plan.code)}${system})`,
  };
}

function comboMatch(req: SearchRequest, baseUrl: string, descending: boolean): ComboPlan | undefined {
  if (req.resourceType !== COMBO.resourceType) return undefined;
  const refs = req.filters.filter((f) => f.code === COMBO.subject || f.code === 'patient');
  const codes = req.filters.filter((f) => f.code === COMBO.code);
  const [ref] = refs;
  const [code] = codes;
  if (refs.length !== 1 || codes.length !== 1 || !ref || !code) return undefined;
  if (ref.type !== 'reference' || code.type !== 'token' || code.modifier !== undefined || code.values.length !== 1)
    return undefined;
  const subject = oneTarget(ref, baseUrl);
  // patient= is subject= restricted to Patient targets: the same rows, for a Patient/<id> target.
  if (!subject || (ref.code === 'patient' && !/^Patient\/[^/]+$/.test(subject))) return undefined;
  const one = oneCode(code);
  return one && { subject, ...one, descending, answered: [ref, code] };
}

/** The system ('' for none, undefined for any) and code of a token filter's one value, when it names one. */
export function oneCode(f: SearchFilter): { system: string | undefined; code: string } | undefined {
  const raw = f.values[0] ?? '';
  const bar = raw.indexOf('|');
  const system = bar < 0 ? undefined : raw.slice(0, bar);
  const value = bar < 0 ? raw : raw.slice(bar + 1);
  return value === '' ? undefined : { system, code: value };
}

/**
 * Whether the search's statements are prepared once per connection (named) and run with the
 * generic plan (search-store.ts searchSettings: plan_cache_mode where they run): planning the
 * statement took about 0.3 ms, as long as running it, and its plan does not depend on the values
 * (one range of sp_token_combo for the subject and code, the resources row of each entry). Only
 * when the combined index answers every filter of the request: the statement's text then comes
 * from a small set (order, the code's system given or not, a cursor or not, repeats removed or
 * not; blinding's exclusions are the server's own), so the statements a connection keeps stay few.
 */
export function comboPrepared(req: SearchRequest, plan: ComboPlan): boolean {
  return req.filters.every((f) => plan.answered.includes(f));
}

export interface ComboSqlParts {
  /** The conditions on `r` of the request (type, not deleted, its filters). */
  where: (req: SearchRequest) => string;
  columns: string;
  /** A cursor key as a typed parameter (a forged one is a 400). */
  keyParam: (value: string) => string;
  timestampText: (expr: string) => string;
  /** A subquery giving the newest created_seq handed out (column `bound`), for a first page that reads its own. */
  currentBound: string;
}

/**
 * The page's rows: the statement without DISTINCT ON, and only when its rows hold a resource twice
 * the statement with it. The same rows either way: the repeats of a resource share its sort values
 * and so come together; without a repeat among the first `limit` rows, they are the first `limit`
 * rows with repeats removed.
 */
export async function comboPageRows<R extends { id: string; bound?: string | undefined }>(
  q: Queryable,
  req: SearchRequest,
  plan: ComboPlan,
  bound: string | undefined,
  parts: (p: ParamList) => ComboSqlParts,
  limit: number,
): Promise<R[]> {
  const prepared = comboPrepared(req, plan);
  const read = async (distinct: boolean, b: string | undefined): Promise<R[]> => {
    const p = new ParamList();
    const text = comboSql(req, plan, b, p, parts(p), limit, distinct);
    const name = prepared ? `combo_${createHash('sha1').update(text).digest('hex').slice(0, 20)}` : undefined;
    return (await q.query<R>(text, p.values, name)).rows;
  };
  const rows = await read(false, bound);
  if (new Set(rows.map((r) => r.id)).size === rows.length) return rows;
  // Again with the bound the first statement read: the same rows, whatever was created since.
  const again = await read(true, bound ?? rows[0]?.bound);
  return bound === undefined ? again.map((r) => ({ ...r, bound: rows[0]?.bound })) : again;
}

/**
 * `bound` undefined: a first page run as one statement on its own reads the bound itself (column
 * `bound`) and needs no condition on it: every row its snapshot sees was numbered before the
 * statement began, so at or below the sequence's value read while it runs.
 */
export function comboSql(
  req: SearchRequest,
  plan: ComboPlan,
  bound: string | undefined,
  p: ParamList,
  parts: ComboSqlParts,
  limit: number,
  distinct: boolean,
): string {
  const col = plan.descending ? 'c.date_hi' : 'c.date_lo';
  const none = plan.descending ? "'-infinity'" : "'infinity'";
  const where = [
    parts.where({ ...req, filters: req.filters.filter((f) => !plan.answered.includes(f)) }),
    `c.resource_type = ${p.add(req.resourceType)}`,
    `c.subject = ${p.add(plan.subject)}`,
    `c.code = ${p.add(plan.code)}`,
  ];
  if (bound !== undefined) where.push(`r.created_seq <= ${p.add(bound)}::bigint`);
  if (plan.system === '') where.push('c.system IS NULL');
  else if (plan.system !== undefined) where.push(`c.system = ${p.add(plan.system)}`);
  const cursor = req.cursor;
  if (cursor) {
    const [k] = cursor.keys ?? [];
    if (cursor.keys?.length !== 1 || !cursor.after || k === undefined)
      fail(badRequest('Invalid or expired paging cursor', '_cursor'));
    const after = `r.created_seq > ${p.add(cursor.after)}::bigint`;
    if (k === null) where.push(`${col} = ${none}`, after);
    else {
      const v = parts.keyParam(k);
      where.push(
        plan.descending
          ? `${col} <= ${v} AND (${col} < ${v} OR ${after})`
          : `${col} >= ${v} AND (${col} > ${v} OR ${after})`,
      );
    }
  }
  // A resource with several matching codings has several rows, with the same (date, created_seq).
  // c.subject = … also selects the partial index (its rows are those with a subject).
  const dir = plan.descending ? 'DESC' : 'ASC';
  return `SELECT ${distinct ? `DISTINCT ON (${col}, r.created_seq) ` : ''}${parts.columns},
                 CASE WHEN ${col} = ${none} THEN NULL ELSE ${parts.timestampText(col)} END AS k0${bound === undefined ? `, ${parts.currentBound} AS bound` : ''}
          FROM sp_token c JOIN resources r ON r.resource_type = c.resource_type AND r.id = c.id
          WHERE ${where.join(' AND ')}
          ORDER BY ${col} ${dir}, r.created_seq LIMIT ${p.add(limit)}::int`;
}
