// Fixtures WRITTEN FOR THE TESTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferAggregates, studiesWithPendingAggregates } from '../../src/store/outcome-aggregate-pending.ts';
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

  it('writes only the summary rows that changed (one new result leaves the others as they were)', async () => {
    const rows = (tir: number) => [
      row('u', 'time-in-range', '', tir, 'overall'),
      row('u', 'msk-score', '', 2),
      row('u', 'volume-response', 'no-change', null),
    ];
    await replaceSummary(t.db, 'u', rows(40));
    // xmin: the transaction that wrote the row version; a rewritten row gets a new one.
    const versions = async () =>
      new Map(
        (
          await t.db.query<{ kind: string; xmin: string; value: string | null }>(
            `SELECT kind, xmin::text AS xmin, value::text AS value FROM outcome_summary WHERE research_subject_id = 'u'`,
          )
        ).rows.map((r) => [r.kind, r]),
      );
    const before = await versions();
    await replaceSummary(
      t.db,
      'u',
      [...rows(55), row('u', 'measure:platelets', '', 120)].filter((r) => r.kind !== 'msk-score'),
    );
    const after = await versions();
    expect(after.get('volume-response')?.xmin).toBe(before.get('volume-response')?.xmin);
    expect(after.get('time-in-range')?.xmin).not.toBe(before.get('time-in-range')?.xmin);
    expect(after.get('time-in-range')?.value).toBe('55');
    expect(after.has('msk-score')).toBe(false);
    expect(after.get('measure:platelets')?.value).toBe('120');
    // The next tests count these groups: this subject leaves them.
    await replaceSummary(t.db, 'u', []);
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

  it('recounts the groups left pending with its own, once, and leaves other studies’ pending groups', async () => {
    await replaceSummary(t.db, 'e', [row('e', 'time-in-range', '', 50, 'overall'), row('e', 'msk-score', '', 6)]);
    // Two batches left the same group (the table has no key: kept twice, recounted once), another
    // study left one of its own.
    const msk = { arm: 'low-dose', visit: 'month-3', kind: 'msk-score' };
    await deferAggregates(t.db, 's1', [msk]);
    await deferAggregates(t.db, 's1', [msk, msk]);
    await deferAggregates(t.db, 's2', [{ arm: 'a', visit: 'overall', kind: 'x' }]);
    expect((await studiesWithPendingAggregates(t.db)).sort()).toEqual(['s1', 's2']);
    const recounted = await refreshAggregates(t.db, 's1', [
      { arm: 'low-dose', visit: 'overall', kind: 'time-in-range' },
    ]);
    expect(recounted).toEqual([msk, { arm: 'low-dose', visit: 'overall', kind: 'time-in-range' }]);
    const rows = await readAggregates(t.db, 's1', [
      { arm: 'low-dose', visit: 'overall' },
      { arm: 'low-dose', visit: 'month-3' },
    ]);
    // b, c, d (changed to 4 above) and e: the pending group is counted again, with e.
    expect(rows.find((r) => r.kind === 'msk-score')).toMatchObject({ count: 4, median: 3, sum: 14 });
    expect(rows.find((r) => r.kind === 'time-in-range')).toMatchObject({ count: 4, median: 35, sum: 170 });
    expect(await studiesWithPendingAggregates(t.db)).toEqual(['s2']);
    // Nothing given and nothing pending: nothing recounted.
    expect(await refreshAggregates(t.db, 's1', [])).toEqual([]);
  });
});
