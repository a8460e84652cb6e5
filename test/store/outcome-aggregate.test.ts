// Fixtures WRITTEN FOR THE TESTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAggregates, refreshAggregates, replaceSummary, type SummaryRow } from '../../src/store/outcome-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const row = (subject: string, kind: string, category: string, value: number | null, visit = 'month-3'): SummaryRow => ({
  studyId: 's1',
  researchSubjectId: subject,
  arm: 'low-dose',
  visit,
  kind,
  category,
  value,
});

describe(`per-group outcome aggregates (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('reports only the groups whose rows changed, never the measure values', async () => {
    const first = [row('a', 'volume-response', 'no-change', null), row('a', 'measure:platelets', '', 20)];
    expect(await replaceSummary(t.db, 'a', first)).toEqual([
      { arm: 'low-dose', visit: 'month-3', kind: 'volume-response' },
    ]);
    expect(await replaceSummary(t.db, 'a', first)).toEqual([]);
    const measureOnly = [row('a', 'volume-response', 'no-change', null), row('a', 'measure:platelets', '', 30)];
    expect(await replaceSummary(t.db, 'a', measureOnly)).toEqual([]);
    const moved = [row('a', 'volume-response', 'partial-involution', null), row('a', 'measure:platelets', '', 30)];
    expect(await replaceSummary(t.db, 'a', moved)).toEqual([
      { arm: 'low-dose', visit: 'month-3', kind: 'volume-response' },
    ]);
    expect(await replaceSummary(t.db, 'a', [])).toEqual([
      { arm: 'low-dose', visit: 'month-3', kind: 'volume-response' },
    ]);
  });

  it('recounts a group from every subject’s rows, and leaves other groups as they were', async () => {
    for (const [s, v] of [
      ['b', 10],
      ['c', 20],
      ['d', 40],
    ] as const) {
      await replaceSummary(t.db, s, [row(s, 'time-in-range', '', v, 'overall'), row(s, 'msk-score', '', 2)]);
    }
    await refreshAggregates(t.db, 's1', [
      { arm: 'low-dose', visit: 'overall', kind: 'time-in-range' },
      { arm: 'low-dose', visit: 'month-3', kind: 'msk-score' },
    ]);
    await replaceSummary(t.db, 'd', [row('d', 'time-in-range', '', 90, 'overall'), row('d', 'msk-score', '', 4)]);
    await refreshAggregates(t.db, 's1', [{ arm: 'low-dose', visit: 'overall', kind: 'time-in-range' }]);
    const rows = await readAggregates(t.db, 's1', [
      { arm: 'low-dose', visit: 'overall' },
      { arm: 'low-dose', visit: 'month-3' },
    ]);
    expect(rows.find((r) => r.kind === 'time-in-range')).toMatchObject({ count: 3, median: 20, sum: 120 });
    // Not refreshed: still the count made before d's change.
    expect(rows.find((r) => r.kind === 'msk-score')).toMatchObject({ count: 3, median: 2, sum: 6 });
  });
});
