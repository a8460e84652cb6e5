/**
 * "One code over a date range" without _sort, e.g.
 * `Observation?code=http://loinc.org|777-3&date=ge2022-03-01&date=lt2022-04-01`, served by
 * sp_token_code_date (migration 0074): the Observation `code` token rows carry the resource's date
 * range (combo-rows.ts), so a page is one ordered range of that index from the bound or the cursor
 * instead of the type's `date` rows walked in date order, each probed for the code.
 *
 * The same matches, order and cursor as the date-driven search it replaces (search-store.ts
 * dateDrivenSql): each match in (lo, id) order of its latest (lt/le) or earliest (eq/ap) `date`
 * row satisfying the driving filter. For a resource with one `date` row that row is its lo..hi, so
 * every `date` filter is a condition on the range and the order key is date_lo. A resource with
 * several `date` rows (date_many: effectiveTiming with several events) is not in the index; those
 * of the code are read as the date-driven search reads them, from sp_token_code_dates_many, and
 * merged in order. A resource with no `date` row (date_lo 'infinity') matches no date filter.
 */

import { badRequest, fail } from '../shared/outcomes.ts';
import type { SearchFilter, SearchRequest } from '../shared/search-request.ts';
import { COMBO } from './combo-rows.ts';
import { type ComboSqlParts, oneCode } from './search-combo.ts';
import { dateRangeCondition, dateRowCondition, type ParamList } from './search-conditions.ts';

export interface CodeDatePlan {
  system: string | undefined;
  code: string;
  /** The `date` filters, all answered here (the first the driver). */
  dates: readonly SearchFilter[];
  driver: SearchFilter;
  descending: boolean;
  /** The filters answered here (left out of the other conditions). */
  answered: readonly SearchFilter[];
}

/**
 * One `code` value and `date` filters without modifiers, the date filter `driver` chose by
 * search-store.ts's dateDriver, no subject (one subject's results go through sp_token_combo).
 */
export function codeDatePlan(
  req: SearchRequest,
  driver: { filter: SearchFilter; descending: boolean },
): CodeDatePlan | undefined {
  if (req.resourceType !== COMBO.resourceType || req.sort.length > 0 || driver.filter.code !== COMBO.date)
    return undefined;
  if (req.filters.some((f) => f.code === COMBO.subject || f.code === 'patient')) return undefined;
  const codes = req.filters.filter((f) => f.code === COMBO.code);
  const dates = req.filters.filter((f) => f.code === COMBO.date);
  const [code] = codes;
  if (codes.length !== 1 || !code || code.type !== 'token' || code.modifier !== undefined || code.values.length !== 1)
    return undefined;
  if (dates.some((f) => f.type !== 'date' || f.modifier !== undefined)) return undefined;
  const one = oneCode(code);
  if (!one) return undefined;
  return { ...one, dates, driver: driver.filter, descending: driver.descending, answered: [code, ...dates] };
}

export function codeDateSql(
  req: SearchRequest,
  plan: CodeDatePlan,
  bound: string,
  p: ParamList,
  parts: ComboSqlParts,
  limit: number,
): string {
  const where = parts.where({ ...req, filters: req.filters.filter((f) => !plan.answered.includes(f)) });
  const type = p.add(req.resourceType);
  const code = p.add(plan.code);
  const system = (alias: string) =>
    plan.system === ''
      ? ` AND ${alias}.system IS NULL`
      : plan.system !== undefined
        ? ` AND ${alias}.system = ${p.add(plan.system)}`
        : '';
  const seq = `r.created_seq <= ${p.add(bound)}::bigint`;
  const [key] = req.cursor?.keys ?? [];
  const cursorId = req.cursor?.id;
  if (req.cursor && (typeof key !== 'string' || cursorId === undefined))
    fail(badRequest('Invalid or expired paging cursor', '_cursor'));
  const cmp = plan.descending ? '<' : '>';
  const after = (lo: string, id: string) =>
    typeof key === 'string' && cursorId !== undefined
      ? ` AND (${lo}, ${id}) ${cmp} (${parts.keyParam(key)}, ${p.add(cursorId)})`
      : '';
  const dir = plan.descending ? 'DESC' : 'ASC';

  // One `date` row: every date filter on the code row's range.
  const one = [
    where,
    seq,
    `c.resource_type = ${type} AND c.code = ${code}${system('c')}`,
    // The index's predicate; 'infinity' is a resource without a date, which no filter matches.
    `c.date_lo IS NOT NULL AND c.date_many IS NULL AND c.date_lo < 'infinity'`,
    ...plan.dates.map((f) => dateRangeCondition(f, 'c.date_lo', 'c.date_hi', p)),
  ];
  // A resource with several matching codings has several rows, with the same (date_lo, id).
  const single = `SELECT DISTINCT ON (c.date_lo, c.id) ${parts.columns}, ${parts.timestampText('c.date_lo')} AS dk, c.date_lo AS sk
          FROM sp_token c JOIN resources r ON r.resource_type = c.resource_type AND r.id = c.id
          WHERE ${one.join(' AND ')}${after('c.date_lo', 'c.id')}
          ORDER BY c.date_lo ${dir}, c.id ${dir} LIMIT ${limit}`;

  // Several `date` rows: as search-store.ts dateDrivenSql, from those resources of the code only.
  const f = plan.driver;
  const y = plan.descending ? '>' : '<';
  const many = [
    where,
    seq,
    `d.param = ${p.add(f.code)}`,
    dateRowCondition(f, 'd', p),
    ...plan.dates
      .filter((g) => g !== f)
      .map(
        (g) => `(${dateRowCondition(g, 'd', p)} OR EXISTS (SELECT 1 FROM sp_date z
          WHERE z.resource_type = r.resource_type AND z.id = r.id AND z.param = d.param AND ${dateRowCondition(g, 'z', p)}))`,
      ),
    `NOT EXISTS (SELECT 1 FROM sp_date y
      WHERE y.resource_type = d.resource_type AND y.id = d.id AND y.param = d.param AND ${dateRowCondition(f, 'y', p)}
        AND (y.lo ${y} d.lo OR (y.lo = d.lo AND y.ctid ${y} d.ctid)))`,
  ];
  const several = `SELECT ${parts.columns}, ${parts.timestampText('d.lo')} AS dk, d.lo AS sk
          FROM m JOIN sp_date d ON d.resource_type = ${type} AND d.id = m.id
          JOIN resources r ON r.resource_type = d.resource_type AND r.id = d.id
          WHERE ${many.join(' AND ')}${after('d.lo', 'd.id')}
          ORDER BY d.lo ${dir}, d.id ${dir} LIMIT ${limit}`;

  // MATERIALIZED: the few resources with several dates are the start, never a filter on a walk.
  return `WITH m AS MATERIALIZED (SELECT DISTINCT c.id FROM sp_token c
            WHERE c.resource_type = ${type} AND c.code = ${code}${system('c')} AND c.date_many)
          SELECT * FROM ((${single}) UNION ALL (${several})) u
          ORDER BY u.sk ${dir}, u.id ${dir} LIMIT ${limit}`;
}
