// Fixtures WRITTEN FOR THE TESTS: random summary rows, seeded so that a failure can be replayed.
/**
 * The kept MeasureReport counts are updated by difference after each recomputation (issue 20):
 * after random sequences of value changes, retractions, arm changes and deletions across subjects,
 * some left pending by a bulk batch, some rolled back, and (second test) two workers at once, the
 * kept counts, medians and sums must equal a full recount of the summary rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom as random } from '../../src/shared/seeded-random.ts';
import type { Queryable } from '../../src/store/db.ts';
import { deferAggregates } from '../../src/store/outcome-aggregate-pending.ts';
import {
  refreshAggregates,
  replaceSummaries,
  type SummaryDelta,
  type SummaryRow,
} from '../../src/store/outcome-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const STUDY = 's1';

/**
 * A subject's rows: few distinct values (ties around the middle), decimals, null values (a category
 * without value, a numeric outcome not evaluable), optional rows (retractions) and a measure row
 * (never counted).
 */
function subjectRows(rnd: () => number, subject: string): SummaryRow[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
  const arm = pick(['low', 'high']);
  const rows: SummaryRow[] = [];
  const add = (visit: string, kind: string, category: string, value: number | null) =>
    rows.push({ studyId: STUDY, researchSubjectId: subject, arm, visit, kind, category, value });
  for (const visit of ['month-3', 'month-6']) {
    if (rnd() < 0.8) add(visit, 'platelet-change', '', pick([-2, 0, 1.5, 3, 3, 7.25, 10]));
    else if (rnd() < 0.5) add(visit, 'platelet-change', 'not-evaluable', null);
    if (rnd() < 0.7) add(visit, 'km-response', pick(['responder', 'non-responder', 'not-evaluable']), null);
    add(visit, 'measure:platelets', '', Math.round(rnd() * 300));
  }
  if (rnd() < 0.7) add('overall', 'time-in-range', '', pick([0, 25, 50, 50, 62.5, 100]));
  // Adverse events: several terms per subject, each with its number of events.
  for (const term of ['anaemia', 'fever']) if (rnd() < 0.4) add('overall', 'ae-count', term, pick([1, 1, 2, 3]));
  return rows;
}

/** Every kept count against a recount of the summary rows, leaving out the groups still pending. */
async function compare(q: Queryable): Promise<{ kept: unknown[]; recount: unknown[] }> {
  const notPending = `NOT EXISTS (SELECT 1 FROM outcome_aggregate_pending p
     WHERE p.study_id = x.study_id AND p.arm = x.arm AND p.visit = x.visit AND p.kind = x.kind)`;
  const kept = await q.query(
    `SELECT arm, visit, kind, category, subjects, median::float8 AS median, total::float8 AS total
       FROM outcome_aggregate x WHERE ${notPending} ORDER BY 1, 2, 3, 4`,
  );
  const recount = await q.query(
    `SELECT arm, visit, kind, category, subjects, median::float8 AS median, total::float8 AS total FROM (
       SELECT study_id, arm, visit, kind, category, count(*)::int AS subjects,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY value)::numeric AS median, sum(value) AS total
         FROM outcome_summary WHERE kind NOT LIKE 'measure:%'
        GROUP BY study_id, arm, visit, kind, category
     ) x WHERE ${notPending} ORDER BY 1, 2, 3, 4`,
  );
  return { kept: kept.rows, recount: recount.rows };
}

/** One recomputation of these subjects, as the engine writes it: summary rows, lock, counts. */
async function recompute(
  t: TestDb,
  rnd: () => number,
  subjects: readonly string[],
  mode: 'apply' | 'defer' | 'rollback',
): Promise<void> {
  const rows = subjects.flatMap((s) => (rnd() < 0.15 ? [] : subjectRows(rnd, s)));
  try {
    await t.db.transaction(async (tx) => {
      const deltas: SummaryDelta[] = [];
      await replaceSummaries(tx, subjects, rows, deltas);
      if (mode === 'defer') {
        await deferAggregates(tx, STUDY, deltas);
        return;
      }
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`measure-reports:${STUDY}`]);
      await refreshAggregates(tx, STUDY, [], deltas);
      if (mode === 'rollback') throw new Error('rolled back');
    });
  } catch (err) {
    if (mode !== 'rollback') throw err;
  }
}

async function worker(t: TestDb, seed: number, subjects: readonly string[], steps: number): Promise<void> {
  const rnd = random(seed);
  for (let i = 0; i < steps; i++) {
    // Mostly one subject (one new result), sometimes a batch of several.
    const n = rnd() < 0.8 ? 1 : 2 + Math.floor(rnd() * 4);
    const batch = [
      ...new Set(Array.from({ length: n }, () => subjects[Math.floor(rnd() * subjects.length)] as string)),
    ];
    const r = rnd();
    await recompute(t, rnd, batch, r < 0.08 ? 'defer' : r < 0.16 ? 'rollback' : 'apply');
  }
}

describe(`MeasureReport counts kept by difference (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('equal a full recount after every step of a random sequence of changes', async () => {
    const subjects = Array.from({ length: 30 }, (_, i) => `subj-${String(i).padStart(2, '0')}`);
    const rnd = random(20261206);
    // Everyone first (one batch), so that the groups hold many rows and their middles move.
    await recompute(t, rnd, subjects, 'apply');
    let compared = 0;
    for (let i = 0; i < 160; i++) {
      const n = rnd() < 0.75 ? 1 : 2 + Math.floor(rnd() * 5);
      const batch = [
        ...new Set(Array.from({ length: n }, () => subjects[Math.floor(rnd() * subjects.length)] as string)),
      ];
      const r = rnd();
      await recompute(t, rnd, batch, r < 0.08 ? 'defer' : r < 0.16 ? 'rollback' : 'apply');
      const { kept, recount } = await compare(t.db);
      expect(kept, `step ${i}`).toEqual(recount);
      compared += recount.length;
    }
    // A flush (no rows of its own) recounts what was pending: then every group is exact.
    await t.db.transaction((tx) => refreshAggregates(tx, STUDY, [], []).then(() => undefined));
    const pending = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outcome_aggregate_pending');
    expect(pending.rows[0]?.n).toBe(0);
    const { kept, recount } = await compare(t.db);
    expect(kept).toEqual(recount);
    // The sequence did exercise medians over many subjects, ties and sums.
    expect(compared).toBeGreaterThan(1000);
    expect(recount.some((r) => (r as { subjects: number }).subjects >= 8)).toBe(true);
  });

  it('equal a full recount after two workers changed subjects of the same groups at once', async () => {
    await t.db.query('DELETE FROM outcome_summary');
    await t.db.query('DELETE FROM outcome_aggregate');
    await t.db.query('DELETE FROM outcome_aggregate_pending');
    // Disjoint subjects, as the per-subject lock of a claim makes them; the same arms and groups.
    const a = Array.from({ length: 10 }, (_, i) => `a-${i}`);
    const b = Array.from({ length: 10 }, (_, i) => `b-${i}`);
    await Promise.all([worker(t, 1, a, 80), worker(t, 2, b, 80)]);
    // Left pending by a bulk batch of either worker: recounted by the next flush.
    await t.db.transaction((tx) => refreshAggregates(tx, STUDY, [], []).then(() => undefined));
    const { kept, recount } = await compare(t.db);
    expect(recount.length).toBeGreaterThan(10);
    expect(kept).toEqual(recount);
  });
});
