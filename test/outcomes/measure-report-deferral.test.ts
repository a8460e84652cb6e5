// SYNTHETIC COHORT, WRITTEN FOR THE TESTS. While whole batches of marks keep coming, a batch leaves
// its MeasureReport groups' recount to a later one (issue 20: recounting every group in every batch
// made a bulk recomputation quadratic in the subjects); the reports are current when a drain, or the
// worker's step that finds no marks, ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuestionnaires } from '../../src/mapping/load-questionnaires.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import type { StudyDefinition } from '../../src/mapping/study-definition.ts';
import type { PublishedVersion } from '../../src/outcomes/publish.ts';
import { OutcomeEngine } from '../../src/outcomes/recompute.ts';
import type { Db, Queryable } from '../../src/store/db.ts';
import { deferAggregates } from '../../src/store/outcome-aggregate-pending.ts';
import { clearFingerprints } from '../../src/store/outcome-fingerprint-store.ts';
import { countMarks, markAllSubjects } from '../../src/store/outcome-store.ts';
import { enrolAndFeed, lateTrough, postResult, syntheticCohort } from '../support/synthetic-cohort.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const TODAY = '2023-06-01';
const HOUR = 3_600_000;

/**
 * Refreshes of the kept MeasureReport counts (each takes the study's pending groups: one statement
 * per refresh, whether it applies a batch's rows or recounts) and groups left for later, as
 * statements the engine ran.
 */
interface Counted {
  recounts: number;
  deferrals: number;
}

/** The store, calling `observe` with every statement the engine sends, in a transaction or not. */
function observingDb(db: Db, observe: (text: string, params: unknown[] | undefined) => void): Db {
  const wrap = (q: Queryable): Queryable => ({
    query: (text, params, name) => {
      observe(text, params);
      return q.query(text, params, name);
    },
    exec: (text) => q.exec(text),
    soleWriter: q.soleWriter,
  });
  return {
    ...wrap(db),
    backend: db.backend,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}

function countingDb(db: Db, seen: Counted): Db {
  return observingDb(db, (text) => {
    if (text.includes('DELETE FROM outcome_aggregate_pending')) seen.recounts++;
    if (text.includes('INSERT INTO outcome_aggregate_pending')) seen.deferrals++;
  });
}

describe('MeasureReports during a bulk recomputation', () => {
  let s: TestService;
  let studies: StudyDefinition[];
  let questionnaires: Awaited<ReturnType<typeof loadQuestionnaires>>;
  const cohort = syntheticCohort(6);

  /** An engine that records, per transaction that published, the MeasureReports it published. */
  const engine = (lagMs: number, calls: string[][], seen: Counted = { recounts: 0, deferrals: 0 }) =>
    new OutcomeEngine(countingDb(s.service.db, seen), `${s.url}/fhir`, studies, {
      today: () => TODAY,
      questionnaires,
      measureReportLagMs: lagMs,
      onPublished: async (_q, published: readonly PublishedVersion[]) => {
        const reports = published.filter((p) => p.resourceType === 'MeasureReport').map((p) => p.id);
        if (reports.length > 0) calls.push(reports);
      },
    });

  /** The kept counts differ from a recount of every summary row (the definition of the counts). */
  const staleAggregates = async (): Promise<unknown[]> => {
    const r = await s.service.db.query(
      `WITH recount AS (
         SELECT study_id, arm, visit, kind, category, count(*)::int AS subjects,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY value)::numeric AS median, sum(value) AS total
           FROM outcome_summary WHERE kind NOT LIKE 'measure:%'
          GROUP BY study_id, arm, visit, kind, category
       ), kept AS (SELECT study_id, arm, visit, kind, category, subjects, median, total FROM outcome_aggregate)
       (SELECT 'missing' AS d, * FROM recount EXCEPT SELECT 'missing', * FROM kept)
       UNION ALL
       (SELECT 'stale', * FROM kept EXCEPT SELECT 'stale', * FROM recount)`,
    );
    return r.rows;
  };
  const pendingRows = async (): Promise<number> =>
    Number(
      (await s.service.db.query<{ n: string }>('SELECT count(*)::text AS n FROM outcome_aggregate_pending')).rows[0]?.n,
    );
  const feedOne = async (c: (typeof cohort)[number], id: string, value: number): Promise<void> => {
    await postResult(s, c, lateTrough(c, id, 364, value));
  };

  beforeAll(async () => {
    s = await startTestService();
    studies = await loadStudyDefinitions('mappings/studies');
    questionnaires = await loadQuestionnaires('mappings/questionnaires');
    await enrolAndFeed(s, cohort);
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('recounts in the first whole batch and at the end of the drain only, and ends with every count current', async () => {
    const calls: string[][] = [];
    // One mark per batch: every batch is a whole one, six of them.
    const first = await engine(HOUR, calls).drain(1);
    expect(first.subjects).toBe(6);
    expect(await countMarks(s.service.db)).toBe(0);
    expect(first.measureReports).toBeGreaterThan(0);
    // Recounting in every batch published MeasureReports in six transactions.
    expect(calls.length).toBe(2);
    expect(await pendingRows()).toBe(0);
    expect(await staleAggregates()).toEqual([]);

    // Every group forced to a recount (as another instance might have left them): the reports the
    // drain left are exactly what a recount of everything gives, so none is rewritten.
    const groups = await s.service.db.query<{ study_id: string; arm: string; visit: string; kind: string }>(
      'SELECT DISTINCT study_id, arm, visit, kind FROM outcome_aggregate',
    );
    for (const g of groups.rows) await deferAggregates(s.service.db, g.study_id, [g]);
    const again: string[][] = [];
    // A new engine looks for groups left waiting once, though it finds no marks.
    const recount = await engine(HOUR, again).drain();
    expect(recount).toMatchObject({ subjects: 0, measureReports: 0 });
    expect(again).toEqual([]);
    expect(await pendingRows()).toBe(0);
  }, 120_000);

  it('recounts at once in a batch that took fewer marks than it could (one subject after one result)', async () => {
    const calls: string[][] = [];
    const withCalls = engine(HOUR, calls);
    await withCalls.drain(); // the engine's first look for groups left waiting: none
    await feedOne(cohort[0] as (typeof cohort)[number], 'SYN-DEFER-1', 31);
    const one = await withCalls.drain();
    expect(one.subjects).toBe(1);
    expect(one.measureReports).toBeGreaterThan(0);
    expect(calls.length).toBe(1);
    expect(await pendingRows()).toBe(0);
    expect(await staleAggregates()).toEqual([]);
  }, 120_000);

  it('in the worker’s steps: whole batches leave the recount to the step that finds no marks', async () => {
    for (const [i, c] of cohort.slice(0, 4).entries()) await feedOne(c, `SYN-DEFER-W${i}`, 40 + i);
    const calls: string[][] = [];
    const e = engine(HOUR, calls);
    await e.drain(); // consumes the engine's look at start-up, and the four marks (one whole batch)
    calls.length = 0;
    for (const [i, c] of cohort.slice(0, 4).entries()) await feedOne(c, `SYN-DEFER-X${i}`, 50 + i);
    const steps: (number | undefined)[] = [];
    for (;;) {
      const r = await e.recomputeSome(1);
      steps.push(r?.subjects);
      if (!r) break;
    }
    expect(steps).toEqual([1, 1, 1, 1, undefined]);
    // Four whole batches deferred (the lag began at the drain's recount), the empty step recounted.
    expect(calls.length).toBe(1);
    expect(await pendingRows()).toBe(0);
    expect(await staleAggregates()).toEqual([]);
  }, 120_000);

  it('recounts in every batch with no lag allowed', async () => {
    // Every subject's summary rows written anew: every batch changes groups. The kept counts go
    // with the rows (they are kept by difference: counts of rows gone would stay).
    await s.service.db.query('DELETE FROM outcome_summary');
    await s.service.db.query('DELETE FROM outcome_aggregate');
    await clearFingerprints(s.service.db);
    await markAllSubjects(s.service.db);
    const seen = { recounts: 0, deferrals: 0 };
    const r = await engine(0, [], seen).drain(1);
    expect(r.subjects).toBe(6);
    expect(seen).toEqual({ recounts: 6, deferrals: 0 });
    expect(await pendingRows()).toBe(0);
    expect(await staleAggregates()).toEqual([]);

    // The same with the lag: the first batch recounts, the others leave it to the drain's end.
    await s.service.db.query('DELETE FROM outcome_summary');
    await s.service.db.query('DELETE FROM outcome_aggregate');
    await clearFingerprints(s.service.db);
    await markAllSubjects(s.service.db);
    const lagged = { recounts: 0, deferrals: 0 };
    expect((await engine(HOUR, [], lagged).drain(1)).subjects).toBe(6);
    expect(lagged).toEqual({ recounts: 2, deferrals: 5 });
    expect(await pendingRows()).toBe(0);
    expect(await staleAggregates()).toEqual([]);
  }, 120_000);

  describe('recounted one arm-visit pair per transaction (recountByPair, as on PGlite)', () => {
    /** Every recount and every take of waiting groups, as the engine sent them. */
    interface Recounts {
      /** The arm-visit pairs of each recount statement. */
      pairs: string[][];
      /** Statements that took every waiting group of the study, whatever its rows. */
      tookAll: number;
    }
    const recordingDb = (db: Db, seen: Recounts): Db =>
      observingDb(db, (text, params) => {
        if (/INSERT INTO outcome_aggregate\s*\(/.test(text)) {
          const [, arms, visits] = (params ?? []) as [string, string[], string[]];
          seen.pairs.push([...new Set(arms.map((a, i) => `${a}/${visits[i]}`))]);
        }
        if (text.includes('DELETE FROM outcome_aggregate_pending p') && params?.[8] === true) seen.tookAll++;
      });
    const byPair = (seen: Recounts, lagMs = HOUR) =>
      new OutcomeEngine(recordingDb(s.service.db, seen), `${s.url}/fhir`, studies, {
        today: () => TODAY,
        questionnaires,
        measureReportLagMs: lagMs,
        recountByPair: true,
      });
    const forgetEverything = async (): Promise<void> => {
      await s.service.db.query('DELETE FROM outcome_summary');
      await s.service.db.query('DELETE FROM outcome_aggregate');
      await clearFingerprints(s.service.db);
      await markAllSubjects(s.service.db);
    };

    it('a bulk recomputation in whole batches ends with every count current, each recount one pair', async () => {
      await forgetEverything();
      const seen: Recounts = { pairs: [], tookAll: 0 };
      const r = await byPair(seen).drain(1);
      expect(r.subjects).toBe(6);
      expect(r.measureReports).toBeGreaterThan(0);
      expect(await pendingRows()).toBe(0);
      expect(await staleAggregates()).toEqual([]);
      // Several pairs recounted, never two in one statement, and no take of every waiting group.
      expect(seen.pairs.length).toBeGreaterThan(1);
      expect(seen.pairs.every((p) => p.length === 1)).toBe(true);
      expect(seen.tookAll).toBe(0);
    }, 120_000);

    it('with no lag allowed, recounts between whole batches, not in them, and ends current', async () => {
      await forgetEverything();
      const seen: Recounts = { pairs: [], tookAll: 0 };
      const r = await byPair(seen, 0).drain(1);
      expect(r.subjects).toBe(6);
      expect(seen.pairs.every((p) => p.length === 1)).toBe(true);
      expect(await pendingRows()).toBe(0);
      expect(await staleAggregates()).toEqual([]);
    }, 120_000);

    it('one subject after one result leaves the waiting groups to the drain’s end, recounted a pair at a time', async () => {
      // Every group left waiting, as a bulk recomputation interrupted would leave them.
      const groups = await s.service.db.query<{ study_id: string; arm: string; visit: string; kind: string }>(
        'SELECT DISTINCT study_id, arm, visit, kind FROM outcome_aggregate',
      );
      for (const g of groups.rows) await deferAggregates(s.service.db, g.study_id, [g]);
      const waiting = await pendingRows();
      // One subject whose summary rows are written again (a result that changes all of them).
      const sid = (
        await s.service.db.query<{ id: string }>(
          `SELECT id FROM resources WHERE resource_type = 'ResearchSubject' ORDER BY id LIMIT 1`,
        )
      ).rows[0]?.id as string;
      await s.service.db.query('DELETE FROM outcome_summary WHERE research_subject_id = $1', [sid]);
      await s.service.db.query('DELETE FROM outcome_fingerprints WHERE research_subject_id = $1', [sid]);
      await s.service.db.query('INSERT INTO outcome_marks (research_subject_id) VALUES ($1)', [sid]);
      const seen: Recounts = { pairs: [], tookAll: 0 };
      const e = byPair(seen);
      const one = await e.recomputeMarked();
      expect(one?.subjects).toBe(1);
      // Its rows' groups were all waiting: none recounted in its transaction, none taken.
      expect(seen).toEqual({ pairs: [], tookAll: 0 });
      expect(await pendingRows()).toBe(waiting);
      // The drain finds no marks and recounts what waits, a pair at a time.
      await e.drain();
      expect(await pendingRows()).toBe(0);
      expect(await staleAggregates()).toEqual([]);
      expect(seen.pairs.every((p) => p.length === 1)).toBe(true);
    }, 120_000);
  });
});
