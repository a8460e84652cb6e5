// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
// A later page of a date-driven search (issue 22) is planned like the first: the planner expects
// about as many rows of the walked date index below the cursor as below the filter's bound, so it
// walks the index from the cursor (at 200,000 results: 6,400 buffers, 7 ms) instead of sorting every
// match (100,000 buffers, 200 ms). Main bounded the walked column twice (the filter and the
// keyset), the planner multiplied the two selectivities and expected a quarter as many. Which plan
// wins depends on the table's size (at this test's size both sort), so the test checks the
// planner's expectation, the cause; and a cursor outside the filter still gives only its matches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearch } from '../../../src/fhir/search/parse-search.ts';
import { encodeCursor, type SearchCursor } from '../../../src/shared/search-request.ts';
import type { Queryable } from '../../../src/store/db.ts';
import { runSearch } from '../../../src/store/search-store.ts';
import { seedObservations } from '../../support/bulk-seed.ts';
import { openTestDb, type TestDb } from '../../support/test-db.ts';

const BASE = 'http://test/fhir';
// Two code values (the second matches nothing): one code alone is answered from the code rows' own
// date index (search-code-date.ts, test/fhir/search/search-code-date.test.ts); this is the search
// the date walk still drives, such as two measures, a category or a status over a month.
const MONTH = 'code=http://loinc.org|777-3,http://loinc.org|0000-0&date=ge2022-03-01&date=lt2022-04-01&_count=20';

interface PlanNode {
  Alias?: string;
  'Plan Rows'?: number;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** The planner's expected rows of the walked date index (alias d). */
function walkedRows(node: PlanNode): number {
  const own = node.Alias === 'd' ? (node['Plan Rows'] ?? 0) : 0;
  return own + (node.Plans ?? []).reduce((n, c) => n + walkedRows(c), 0);
}

describe('later pages of a date-driven search', () => {
  let t: TestDb;

  beforeAll(async () => {
    t = await openTestDb();
    // 12,000 results over a year: about 250 of code 777-3 in March, 13 pages of 20.
    await seedObservations(t.db, { prefix: 'lp', count: 12_000, patients: 30 });
    await t.db.exec('ANALYZE');
  }, 120_000);
  afterAll(async () => {
    await t.drop();
  });

  /** One page, with the date index rows the planner expects its statement to read (EXPLAIN of the same statement). */
  const page = async (cursor?: SearchCursor): Promise<{ ids: string[]; next?: SearchCursor; read: number }> => {
    const params = new URLSearchParams(MONTH);
    if (cursor) params.set('_cursor', encodeCursor(cursor));
    const seen: [string, unknown[] | undefined][] = [];
    const spy: Queryable = {
      query: (text, values) => {
        if (text.includes('FROM sp_date d')) seen.push([text, values]);
        return t.db.query(text, values);
      },
      exec: (text) => t.db.exec(text),
    };
    const result = await runSearch(spy, parseSearch('Observation', params, true), BASE);
    const [stmt] = seen;
    if (!stmt) throw new Error('not a date-driven statement');
    const plan = await t.db.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) ${stmt[0]}`, stmt[1]);
    const cell = Object.values(plan.rows[0] ?? {})[0];
    const [top] = (typeof cell === 'string' ? JSON.parse(cell) : cell) as [{ Plan: PlanNode }];
    return { ids: result.matches.map((m) => m.id), next: result.next, read: walkedRows(top.Plan) };
  };

  it('plans every page of the month as the first: about as many index rows expected', async () => {
    let p = await page();
    const first = p.read;
    expect(p.ids).toHaveLength(20);
    // Rows dated before April: a quarter of the year's, give or take the histogram.
    expect(first).toBeGreaterThan(1_500);
    const seen = new Set(p.ids);
    let pages = 1;
    // Ten pages reach back to early March: below the cursor lie two thirds or more of the rows below
    // April (main expected a fifth to a quarter: the two bounds multiplied).
    while (p.next && pages < 10) {
      p = await page(p.next);
      pages++;
      expect(p.read).toBeGreaterThan(0.5 * first);
      for (const id of p.ids) {
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }
    }
    expect(pages).toBe(10);
  });

  it('a cursor dated outside the filter still returns only matches of the filter', async () => {
    const all: string[] = [];
    let p = await page();
    all.push(...p.ids);
    while (p.next) {
      p = await page(p.next);
      all.push(...p.ids);
    }
    expect(all.length).toBeGreaterThan(200);
    const bound = (await page()).next?.bound;
    if (!bound) throw new Error('no cursor');
    // After April's first instant (outside lt2022-04-01): the whole month, from its newest.
    const outside = await page({ bound, keys: ['2022-04-01T00:00:00.000000Z'], id: '' });
    expect(outside.ids).toEqual(all.slice(0, 20));
    // Within the last microsecond of March: the same.
    const inside = await page({ bound, keys: ['2022-03-31T23:59:59.999999Z'], id: 'zz' });
    expect(inside.ids).toEqual(all.slice(0, 20));
  });
});
