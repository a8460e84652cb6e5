// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearch } from '../../../src/fhir/search/parse-search.ts';
import type { Queryable, QueryResult } from '../../../src/store/db.ts';
import { runSearch } from '../../../src/store/search-store.ts';
import { seedObservations } from '../../support/bulk-seed.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

describe('Bundle.total only when asked (_total)', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    // 60 results of 3 patients (20 each), codes cycled over four LOINC codes.
    await seedObservations(s.testDb.db, { prefix: 'tt', count: 60, patients: 3 });
    await s.testDb.db.exec('ANALYZE');
  });
  afterAll(async () => {
    await s.stop();
  });

  const search = async (query: string): Promise<Bundle> => {
    const res = await s.call(`/fhir/Observation?${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Bundle;
  };
  const next = (b: Bundle) => b.link?.find((l) => l.relation === 'next')?.url;

  /** The statements a search runs, straight against the store. */
  const statements = async (query: string): Promise<string[]> => {
    const seen: string[] = [];
    const db = s.testDb.db;
    const q: Queryable = {
      query: <R extends object>(text: string, params?: unknown[]): Promise<QueryResult<R>> => {
        seen.push(text);
        return db.query<R>(text, params);
      },
      exec: (text: string) => db.exec(text),
    };
    await runSearch(q, parseSearch('Observation', new URLSearchParams(query), true), s.fhir);
    return seen;
  };

  it('counts nothing when _total is absent or none, but gives the free total of a complete first page', async () => {
    const paged = await search('subject=Patient/tt-p1&_count=5');
    expect(paged.entry).toHaveLength(5);
    expect(paged.total).toBeUndefined();
    expect(next(paged)).toBeDefined();
    expect((await search('subject=Patient/tt-p1&_count=5&_total=none')).total).toBeUndefined();
    // Every match on the first page, no next page: the total is what the page holds.
    const whole = await search('subject=Patient/tt-p1&_count=50');
    expect(whole.entry).toHaveLength(20);
    expect(whole.total).toBe(20);
    expect(next(whole)).toBeUndefined();
    expect((await search('subject=Patient/tt-p1&code=http://loinc.org|nothing')).total).toBe(0);
    // A last page reached through next links does not know how many came before: no total.
    let url = next(paged);
    let last: Bundle | undefined;
    while (url) {
      last = (await (await s.call(url.slice(s.url.length))).json()) as Bundle;
      url = next(last);
    }
    expect(last?.entry?.length).toBeGreaterThan(0);
    expect(last?.total).toBeUndefined();
    expect(await statements('subject=Patient/tt-p1&_count=5')).not.toContainEqual(expect.stringMatching(/count\(/));
    expect(await statements('subject=Patient/tt-p1&_count=5&_total=none')).not.toContainEqual(
      expect.stringMatching(/count\(|EXPLAIN/),
    );
  });

  it('counts every match, on every page, with _total=accurate, _summary=count and _count=0', async () => {
    const first = await search('subject=Patient/tt-p1&_count=5&_total=accurate');
    expect(first.total).toBe(20);
    const second = (await (await s.call((next(first) ?? '').slice(s.url.length))).json()) as Bundle;
    expect(second.entry).toHaveLength(5);
    expect(second.total).toBe(20);
    expect(next(second)).toContain('_total=accurate');
    expect((await search('subject=Patient/tt-p1&_summary=count')).total).toBe(20);
    const zero = await search('subject=Patient/tt-p1&_count=0');
    expect(zero.total).toBe(20);
    expect(zero.entry).toBeUndefined();
    expect((await search('subject=Patient/tt-p1&_count=0&_total=none')).total).toBeUndefined();
    expect(await statements('subject=Patient/tt-p1&_count=5&_total=accurate')).toContainEqual(
      expect.stringMatching(/count\(\*\)/),
    );
  });

  it('estimates with the planner under _total=estimate, never below what the page shows', async () => {
    const b = await search('_count=5&_total=estimate');
    expect(b.entry).toHaveLength(5);
    // The planner's estimate: a number, at least one more than the page (there is a next page).
    expect(b.total).toBeGreaterThanOrEqual(6);
    expect(b.total).toBeLessThan(10_000);
    expect(await statements('_count=5&_total=estimate')).toContainEqual(expect.stringMatching(/^EXPLAIN/));
    expect(await statements('_count=5&_total=estimate')).not.toContainEqual(expect.stringMatching(/count\(/));
    // A complete first page: exact, whatever the mode.
    expect((await search('subject=Patient/tt-p2&_count=50&_total=estimate')).total).toBe(20);
    expect((await search('subject=Patient/tt-p2&_count=0&_total=estimate')).total).toBeGreaterThanOrEqual(0);
  });

  it('refuses an unknown _total under strict handling and ignores it under lenient', async () => {
    const strict = await s.call('/fhir/Observation?_total=some', { headers: { prefer: 'handling=strict' } });
    expect(strict.status).toBe(400);
    const lenient = await search('subject=Patient/tt-p1&_count=5&_total=some');
    expect(lenient.total).toBeUndefined();
    expect(lenient.link?.find((l) => l.relation === 'self')?.url).not.toContain('_total');
  });
});
