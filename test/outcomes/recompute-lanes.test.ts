// SYNTHETIC COHORT, WRITTEN FOR THE TESTS. Several batches recomputed at once (each in its own
// transaction) publish what one batch after another publishes (issue 20).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuestionnaires } from '../../src/mapping/load-questionnaires.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import type { StudyDefinition } from '../../src/mapping/study-definition.ts';
import { OutcomeEngine } from '../../src/outcomes/recompute.ts';
import type { Db } from '../../src/store/db.ts';
import { clearFingerprints } from '../../src/store/outcome-fingerprint-store.ts';
import { countMarks, markAllSubjects } from '../../src/store/outcome-store.ts';
import { enrolAndFeed, lateTrough, postResult, syntheticCohort } from '../support/synthetic-cohort.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const TODAY = '2023-06-01';

/** A Db that counts the transactions open at once (inside BEGIN … COMMIT). */
function overlapDb(db: Db, seen: { open: number; max: number; total: number }): Db {
  return {
    query: (text, params) => db.query(text, params),
    exec: (text) => db.exec(text),
    backend: db.backend,
    transaction: (fn) =>
      db.transaction(async (tx) => {
        seen.open++;
        seen.total++;
        seen.max = Math.max(seen.max, seen.open);
        try {
          // Give the other lane time to open its transaction while this one is open.
          await new Promise((r) => setTimeout(r, 20));
          return await fn(tx);
        } finally {
          seen.open--;
        }
      }),
    close: () => db.close(),
  };
}

describe('recomputation in several batches at once', () => {
  let s: TestService;
  let studies: StudyDefinition[];
  let questionnaires: Awaited<ReturnType<typeof loadQuestionnaires>>;
  const cohort = syntheticCohort(6);

  beforeAll(async () => {
    s = await startTestService();
    studies = await loadStudyDefinitions('mappings/studies');
    questionnaires = await loadQuestionnaires('mappings/questionnaires');
    await enrolAndFeed(s, cohort);
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('computes every subject once, as one batch after another would', async () => {
    const seen = { open: 0, max: 0, total: 0 };
    const lanes = new OutcomeEngine(overlapDb(s.service.db, seen), `${s.url}/fhir`, studies, {
      today: () => TODAY,
      questionnaires,
      batchesAtOnce: 2,
    });
    // One mark per batch: the six subjects' marks spread over many batches, two at a time.
    const first = await lanes.drain(1);
    expect(first.subjects).toBe(6);
    expect(first.failed).toEqual([]);
    expect(first.created).toBeGreaterThan(6 * 40);
    expect(await countMarks(s.service.db)).toBe(0);
    // Every outcome resource written once: no subject was computed by both lanes.
    const outcomes = first.changed.filter((k) => !k.startsWith('MeasureReport/'));
    expect(new Set(outcomes).size).toBe(outcomes.length);
    expect(seen.total).toBeGreaterThan(6);
    // PostgreSQL runs the two transactions at once; PGlite's one connection takes them in turn.
    expect(seen.max).toBe(s.service.db.backend === 'postgresql' ? 2 : 1);

    // Computed again from scratch one batch at a time: nothing differs from what the lanes published.
    await clearFingerprints(s.service.db);
    await markAllSubjects(s.service.db);
    const serial = new OutcomeEngine(s.service.db, `${s.url}/fhir`, studies, { today: () => TODAY, questionnaires });
    const again = await serial.drain();
    expect(again).toMatchObject({ subjects: 6, created: 0, amended: 0, retracted: 0, measureReports: 0 });
    expect(again.unchanged).toBe(first.created + first.amended);
  }, 120_000);

  it('takes one subject after one result in one transaction, without a claim that finds nothing', async () => {
    const seen = { open: 0, max: 0, total: 0 };
    const lanes = new OutcomeEngine(overlapDb(s.service.db, seen), `${s.url}/fhir`, studies, {
      today: () => TODAY,
      questionnaires,
      batchesAtOnce: 2,
    });
    const c = cohort[0] as (typeof cohort)[number];
    const late = lateTrough(c, 'SYN-LANES-1', 364, 30);
    await postResult(s, c, late);
    const one = await lanes.drain();
    expect(one.subjects).toBe(1);
    expect(one.created + one.amended).toBeGreaterThan(0);
    expect(seen.total).toBe(1);
    expect(await countMarks(s.service.db)).toBe(0);
  }, 120_000);
});
