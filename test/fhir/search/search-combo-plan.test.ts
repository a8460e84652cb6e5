// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
// A page of one patient's measure newest first (issue 22) reads about a page of resources, not every
// result of that patient and code: the combined index gives the date order, and only each date's
// ties are sorted (by created_seq, on the resources row). With DISTINCT ON in the statement,
// PostgreSQL 15 sorted its whole input first (an incremental sort for DISTINCT came with 16):
// every one of the patient's 125 results of the code fetched for a page of 20. The pages themselves
// are checked against the general search and brute force in search-combo.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearch } from '../../../src/fhir/search/parse-search.ts';
import { encodeCursor, type SearchCursor } from '../../../src/shared/search-request.ts';
import type { Queryable } from '../../../src/store/db.ts';
import { runSearch } from '../../../src/store/search-store.ts';
import { seedObservations } from '../../support/bulk-seed.ts';
import { openTestDb, type TestDb } from '../../support/test-db.ts';

const BASE = 'http://test/fhir';
const SEARCH = 'subject=Patient/cp-p7&code=http://loinc.org|777-3&_sort=-date';

interface PlanNode {
  Alias?: string;
  'Node Type'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** The rows of `resources` (alias r) the statement fetched. */
function resourcesRead(node: PlanNode): number {
  const own = node.Alias === 'r' ? (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) : 0;
  return own + (node.Plans ?? []).reduce((n, c) => n + resourcesRead(c), 0);
}

describe('one patient’s measure newest first: the plan', () => {
  let t: TestDb;

  beforeAll(async () => {
    t = await openTestDb();
    // 24 patients with 500 results each, a quarter of them of code 777-3: 125 for Patient/cp-p7.
    await seedObservations(t.db, { prefix: 'cp', count: 12_000, patients: 24 });
    await t.db.exec('ANALYZE');
  }, 120_000);
  afterAll(async () => {
    await t.drop();
  });

  /** One page of 20 and the resources rows its statement read (EXPLAIN ANALYZE of the same statement). */
  const page = async (cursor?: SearchCursor): Promise<{ ids: string[]; next?: SearchCursor; read: number }> => {
    const params = new URLSearchParams(SEARCH);
    if (cursor) params.set('_cursor', encodeCursor(cursor));
    const seen: [string, unknown[] | undefined][] = [];
    const spy: Queryable = {
      query: (text, values) => {
        if (text.includes('JOIN resources r')) seen.push([text, values]);
        return t.db.query(text, values);
      },
      exec: (text) => t.db.exec(text),
    };
    const result = await runSearch(spy, parseSearch('Observation', params, true), BASE);
    expect(seen).toHaveLength(1);
    const [stmt] = seen;
    if (!stmt) throw new Error('no statement of the combined index');
    const plan = await t.db.query<Record<string, unknown>>(`EXPLAIN (ANALYZE, FORMAT JSON) ${stmt[0]}`, stmt[1]);
    const cell = Object.values(plan.rows[0] ?? {})[0];
    const [top] = (typeof cell === 'string' ? JSON.parse(cell) : cell) as [{ Plan: PlanNode }];
    return { ids: result.matches.map((m) => m.id), next: result.next, read: resourcesRead(top.Plan) };
  };

  it('reads about a page of resources for each page, not all 125 of the patient’s measure', async () => {
    const all = new Set<string>();
    let p = await page();
    let pages = 1;
    for (;;) {
      expect(p.ids.length).toBeGreaterThan(0);
      // The page, the row that tells there is another, and the rest of the last date's ties at most.
      expect(p.read, `page ${pages}`).toBeLessThanOrEqual(25);
      for (const id of p.ids) all.add(id);
      if (!p.next) break;
      p = await page(p.next);
      pages++;
    }
    expect(pages).toBe(7);
    expect(all.size).toBe(125);
  });
});
