// SYNTHETIC COHORT, WRITTEN FOR THE TESTS. A recomputation lets the rest of the service run between
// its batches: on PGlite each statement runs synchronously in the service's thread, and a drain's
// batches used to follow one another without the event loop ever turning (no request read, no job
// timer fired) until the whole recomputation had ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuestionnaires } from '../../src/mapping/load-questionnaires.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { OutcomeEngine } from '../../src/outcomes/recompute.ts';
import type { Db, Queryable } from '../../src/store/db.ts';
import { readThenAudit } from '../support/db-hooks.ts';
import { enrolAndFeed, syntheticCohort } from '../support/synthetic-cohort.ts';
import { testBackend } from '../support/test-db.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

describe(`a recomputation in batches leaves room for requests (${testBackend()})`, () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    const cohort = syntheticCohort(12);
    await enrolAndFeed(s, cohort);
    // The token is fetched now, not while the recomputation runs.
    await s.token('research');
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  /**
   * The service's store, noting the size of every batch claimed (the claim statement's limit, sent
   * with the BEGIN or on its own).
   */
  function notingBatches(db: Db, sizes: number[], alone = { claims: 0 }): Db {
    const note = (text: string | undefined): boolean => {
      const claim = text?.trimStart().startsWith('WITH picked AS') === true;
      if (claim) sizes.push(Number(/\bLIMIT (\d+)/.exec(text as string)?.[1]));
      return claim;
    };
    const noting = (q: Queryable): Queryable => ({
      ...q,
      query: (text, params, name) => {
        if (note(text)) alone.claims++;
        return q.query(text, params, name);
      },
    });
    return new Proxy(db, {
      get(target, prop) {
        if (prop === 'transaction')
          return (fn: Parameters<Db['transaction']>[0], options?: Parameters<Db['transaction']>[1]) => {
            note(options?.firstRead);
            return target.transaction((tx, first) => fn(noting(tx), first), options);
          };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  it('answers a read sent as a recomputation starts before the recomputation ends', async () => {
    let drained = false;
    // Twelve batches of one subject each.
    const drain = s.service.outcomes.drain(1).then((r) => {
      drained = true;
      return r;
    });
    const read = await s.call('/fhir/ResearchStudy/nct04775173', { role: 'research' });
    const answeredBeforeTheEnd = !drained;
    expect(read.status).toBe(200);
    const report = await drain;
    expect(report.subjects).toBe(12);
    expect(answeredBeforeTheEnd).toBe(true);
  }, 120_000);

  it('gives the event loop turns while it computes and plans one batch, not only between batches', async () => {
    const studies = await loadStudyDefinitions('mappings/studies');
    const questionnaires = await loadQuestionnaires('mappings/questionnaires');
    /** Turns of the event loop while one batch runs, and the longest time without one (ms). */
    const turnsDuringOneBatch = async (eventLoopSliceMs: number): Promise<{ turns: number; longest: number }> => {
      // Every subject computed again (no fingerprint to skip it by), all in one batch.
      await s.service.db.query('DELETE FROM outcome_fingerprints');
      await s.service.db.query(
        `INSERT INTO outcome_marks (research_subject_id)
         SELECT r.id FROM resources r WHERE r.resource_type = 'ResearchSubject' ORDER BY r.id`,
      );
      const engine = new OutcomeEngine(s.service.db, `${s.url}/fhir`, studies, { questionnaires, eventLoopSliceMs });
      let turns = 0;
      let longest = 0;
      let last = performance.now();
      let counting = true;
      const tick = (): void => {
        if (!counting) return;
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        turns++;
        setImmediate(tick);
      };
      setImmediate(tick);
      const report = await engine.drain(100);
      counting = false;
      expect(report.subjects).toBe(12);
      return { turns, longest };
    };
    const unsliced = await turnsDuringOneBatch(1e9);
    const sliced = await turnsDuringOneBatch(0);
    if (testBackend() === 'pglite') {
      // PGlite answers a statement without a turn: a turn before each subject's computation and each
      // of its two planning steps, against none.
      expect(sliced.turns - unsliced.turns).toBeGreaterThanOrEqual(2 * 12);
    } else {
      // PostgreSQL's round trips give both turns (the loop spins while it waits): the computation of
      // the batch's 12 subjects no longer runs in one stretch.
      expect(sliced.longest * 2).toBeLessThan(unsliced.longest);
    }
  }, 120_000);

  // A request caught by a long batch runs its read once the batch ends, then its AuditEvent a turn
  // later: without waiting for the store to be quiet, the next batch took the store in between and
  // the request waited for that one too.
  it.runIf(testBackend() === 'pglite')(
    'lets a request caught by a long batch run all its statements before the next batch',
    async () => {
      const studies = await loadStudyDefinitions('mappings/studies');
      const questionnaires = await loadQuestionnaires('mappings/questionnaires');
      const db = s.service.db;
      await db.query(
        `INSERT INTO outcome_marks (research_subject_id)
         SELECT r.id FROM resources r WHERE r.resource_type = 'ResearchSubject' ORDER BY r.id`,
      );
      const events: string[] = [];
      let request: Promise<void> | undefined;
      let batches = 0;
      const slowFirstBatch = new Proxy(db, {
        get(target, prop) {
          if (prop === 'transaction')
            return (fn: Parameters<Db['transaction']>[0], options?: Parameters<Db['transaction']>[1]) =>
              target.transaction(async (tx, first) => {
                const n = ++batches;
                events.push(`batch ${n}`);
                const r = await fn(tx, first);
                if (n === 1) {
                  // A request arrives while the first batch holds the store, and the batch is long.
                  request = readThenAudit(target, events);
                  await new Promise((done) => setTimeout(done, 60));
                }
                return r;
              }, options);
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const engine = new OutcomeEngine(slowFirstBatch, `${s.url}/fhir`, studies, { questionnaires });
      const report = await engine.drain(1);
      await request;
      expect(report.subjects).toBe(12);
      expect(events.slice(0, 4)).toEqual(['batch 1', 'read', 'audit', 'batch 2']);
    },
    60_000,
  );

  it('sizes unsized batches to take about the target time: larger while they are quick, smaller when slow', async () => {
    const studies = await loadStudyDefinitions('mappings/studies');
    const questionnaires = await loadQuestionnaires('mappings/questionnaires');
    const sizesWith = async (batchTargetMs: number, firstBatchMarks?: number): Promise<number[]> => {
      // 96 marks for the 12 subjects, 8 each in a row: a batch takes whole subjects' marks.
      await s.service.db.query(
        `INSERT INTO outcome_marks (research_subject_id)
         SELECT r.id FROM resources r CROSS JOIN generate_series(1, 8)
          WHERE r.resource_type = 'ResearchSubject' ORDER BY r.id`,
      );
      const sizes: number[] = [];
      const alone = { claims: 0 };
      const engine = new OutcomeEngine(notingBatches(s.service.db, sizes, alone), `${s.url}/fhir`, studies, {
        questionnaires,
        batchTargetMs,
        ...(firstBatchMarks === undefined ? {} : { firstBatchMarks }),
      });
      await engine.drain();
      // Each claim went with its transaction's BEGIN (one round trip on PostgreSQL), none on its own.
      expect(alone.claims).toBe(0);
      expect(sizes.length).toBeGreaterThan(1);
      return sizes;
    };
    // Every batch far under the target: each full batch doubles the next, from 5.
    expect((await sizesWith(1e9)).slice(0, 3)).toEqual([5, 10, 20]);
    // Every batch over the target: each full batch halves the next, down to 5.
    const slow = await sizesWith(1e-6, 25);
    expect(slow.slice(0, 3)).toEqual([25, 12, 6]);
    expect(Math.min(...slow)).toBe(5);
    // Over the target from the start: 5 throughout.
    expect(new Set(await sizesWith(1e-6))).toEqual(new Set([5]));
  });
});
