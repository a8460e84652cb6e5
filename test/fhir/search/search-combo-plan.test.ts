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
import type { Db, Queryable } from '../../../src/store/db.ts';
import { runSearch, searchSettings } from '../../../src/store/search-store.ts';
import { withTimeBudget } from '../../../src/store/time-budget.ts';
import { seedObservations } from '../../support/bulk-seed.ts';
import { openTestDb, type TestDb, testBackend } from '../../support/test-db.ts';

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

  it('prepares the statement and plans it once (generic plan) only when the combined index answers every filter', () => {
    const settings = (query: string) =>
      searchSettings(parseSearch('Observation', new URLSearchParams(query), true), BASE);
    const generic = { plan_cache_mode: 'force_generic_plan' };
    expect(settings(SEARCH)).toEqual(generic);
    expect(settings(`${SEARCH}&_count=5`)).toEqual(generic);
    expect(settings('patient=cp-p7&code=777-3&_sort=date')).toEqual(generic);
    expect(settings(`${SEARCH}&_total=none`)).toEqual(generic);
    // Any other statement in the transaction would get a generic plan too, blind to its values.
    for (const other of ['&date=ge2022-03-01', '&status=final', '&_total=accurate', '&_total=estimate', '&_count=0'])
      expect(settings(`${SEARCH}${other}`), other).toBeUndefined();
    expect(settings(`${SEARCH}&_include=Observation:subject`)).toBeUndefined();
    expect(settings('subject=Patient/cp-p7&code=http://loinc.org|777-3')).toBeUndefined();
    expect(settings('code=http://loinc.org|777-3&date=lt2022-04-01')).toBeUndefined();
  });

  it.runIf(testBackend() === 'postgresql')(
    'runs one statement per page outside a transaction, on connections started with its settings (PostgreSQL)',
    async () => {
      const req = parseSearch('Observation', new URLSearchParams(SEARCH), true);
      const settings = searchSettings(req, BASE);
      const withSettings = t.db.withSettings;
      if (!withSettings) throw new Error('PostgreSQL has Db.withSettings');
      const used: Readonly<Record<string, string | number>>[] = [];
      const sent: (string | undefined)[] = [];
      // The store as the service has it, but a transaction is refused: the search must not open one.
      const db: Db = {
        backend: t.db.backend,
        query: (text, values, name) => t.db.query(text, values, name),
        exec: (text) => t.db.exec(text),
        close: () => t.db.close(),
        transaction: () => Promise.reject(new Error('no transaction expected')),
        withSettings: (s) => {
          used.push(s);
          const q = withSettings(s);
          return {
            query: (text, values, name) => {
              sent.push(name);
              return q.query(text, values, name);
            },
            exec: (text) => q.exec(text),
          };
        },
      };
      const run = (r: typeof req) =>
        withTimeBudget(db, { ms: 10_000 }, (bq) => runSearch(bq, r, BASE, undefined, true), { settings, alone: true });
      const seq = await t.db.query<{ v: string }>('SELECT last_value::text AS v FROM resource_seq');
      const first = await run(req);
      // Its bound read in the statement: the sequence's value (nothing was created since).
      expect(first.next?.bound).toBe(seq.rows[0]?.v);
      const ids = first.matches.map((m) => m.id);
      const second = await run({ ...req, cursor: first.next });
      // The same pages as a search in a transaction of its own.
      const plain = await t.db.transaction((tx) => runSearch(tx, req, BASE));
      expect(ids).toEqual(plain.matches.map((m) => m.id));
      const plainNext = await t.db.transaction((tx) => runSearch(tx, { ...req, cursor: plain.next }, BASE));
      expect(second.matches.map((m) => m.id)).toEqual(plainNext.matches.map((m) => m.id));
      expect(sent).toHaveLength(2);
      for (const name of sent) expect(name).toMatch(/^combo_/);
      const [s] = used;
      if (!s) throw new Error('no settings used');
      const session = await withSettings(s).query<Record<string, string>>(
        `SELECT current_setting('transaction_read_only') AS ro, current_setting('plan_cache_mode') AS plans,
                current_setting('statement_timeout') AS timeout, current_setting('max_parallel_workers_per_gather') AS workers`,
      );
      expect(session.rows).toEqual([{ ro: 'on', plans: 'force_generic_plan', timeout: '10s', workers: '0' }]);
    },
  );

  it.runIf(testBackend() === 'postgresql')(
    'runs the prepared statement with its generic plan, reading about a page (PostgreSQL)',
    async () => {
      const req = parseSearch('Observation', new URLSearchParams(SEARCH), true);
      const options = { readOnly: true, settings: searchSettings(req, BASE) };
      await t.db.transaction(async (tx) => {
        const named: [string, unknown[]][] = [];
        const spy: Queryable = {
          query: (text, values, name) => {
            if (name) named.push([name, values ?? []]);
            return tx.query(text, values, name);
          },
          exec: (text) => tx.exec(text),
        };
        const stats = async (name: string) =>
          (
            await tx.query<{ generic: number; custom: number }>(
              `SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = $1`,
              [name],
            )
          ).rows[0];
        const first = await runSearch(spy, req, BASE);
        const [[name, values] = ['', []]] = named;
        expect(name).toMatch(/^combo_/);
        const before = await stats(name);
        const again = await runSearch(spy, req, BASE);
        expect(again.matches.map((m) => m.id)).toEqual(first.matches.map((m) => m.id));
        expect(named.map(([n]) => n)).toEqual([name, name]);
        // (An earlier test may have run the same statement on this connection, planned for its values.)
        const after = await stats(name);
        expect(before?.generic).toBeGreaterThanOrEqual(1);
        expect(after).toEqual({ generic: (before?.generic ?? 0) + 1, custom: before?.custom });
        const literal = (v: unknown) => `'${String(v).replaceAll("'", "''")}'`;
        const plan = await tx.query<Record<string, unknown>>(
          `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${name}(${values.map(literal).join(', ')})`,
        );
        const cell = Object.values(plan.rows[0] ?? {})[0];
        const [top] = (typeof cell === 'string' ? JSON.parse(cell) : cell) as [{ Plan: PlanNode }];
        expect(resourcesRead(top.Plan)).toBeLessThanOrEqual(25);
      }, options);
    },
  );
});
