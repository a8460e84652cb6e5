// SYNTHETIC COHORT, WRITTEN FOR THE TESTS. readChangedSubjectInputs (a few subjects' fingerprints
// and their inputs in one statement) reads what readFingerprints then readSubjectInputs read, and no
// inputs of a subject whose fingerprint is the stored one (issue 20).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FingerprintScope,
  readFingerprints,
  storeFingerprints,
} from '../../src/store/outcome-fingerprint-store.ts';
import { readChangedSubjectInputs } from '../../src/store/outcome-inputs-if-changed.ts';
import { readSubjectInputs } from '../../src/store/outcome-store.ts';
import { enrolAndFeed, postResult, syntheticCohort } from '../support/synthetic-cohort.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const SCOPE: FingerprintScope = {
  recordTypes: ['Observation', 'QuestionnaireResponse', 'AdverseEvent', 'Flag'],
  outputIdPrefixes: ['oc-', 'fl-', 'aes-'],
  salt: 'test-salt',
};
const MEDICATIONS = ['MedicationRequest', 'MedicationStatement'];

describe('fingerprints and changed inputs in one statement', () => {
  let s: TestService;
  const cohort = syntheticCohort(3);
  let ids: string[] = [];

  beforeAll(async () => {
    s = await startTestService({ OUTCOMES_WORKER: 'off' });
    await enrolAndFeed(s, cohort);
    // Outcomes too: the inputs read returns a subject's current outcomes with its records.
    await s.service.outcomes.drain();
    const rows = await s.service.db.query<{ id: string }>(
      `SELECT id FROM resources WHERE resource_type = 'ResearchSubject' ORDER BY id`,
    );
    ids = rows.rows.map((r) => r.id);
    expect(ids).toHaveLength(3);
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('gives the fingerprints of readFingerprints, and every subject’s inputs when none is stored', async () => {
    await s.service.db.query('DELETE FROM outcome_fingerprints');
    const one = await readChangedSubjectInputs(s.service.db, ids, SCOPE, MEDICATIONS);
    const two = await readFingerprints(s.service.db, ids, SCOPE);
    const byId = <T extends { researchSubjectId: string }>(xs: T[]): T[] =>
      [...xs].sort((a, b) => (a.researchSubjectId < b.researchSubjectId ? -1 : 1));
    expect(byId(one.fingerprints)).toEqual(byId(two));
    expect(one.fingerprints.every((f) => f.stored === null && f.outcomes === 0 && !f.failed)).toBe(true);
    expect(one.changed).toEqual(ids);
    const inputs = await readSubjectInputs(s.service.db, ids, SCOPE.recordTypes, MEDICATIONS);
    expect(one.inputs).toEqual(inputs);
    // Records and outcomes alike, as readSubjectInputs gives them.
    for (const id of ids) expect(one.inputs.records.get(`ResearchSubject/${id}`)?.length).toBeGreaterThan(40);
    expect(one.inputs.patients.size).toBe(3);
  });

  it('reads only the subject whose inputs changed since its fingerprint was stored', async () => {
    const now = await readFingerprints(s.service.db, ids, SCOPE);
    await storeFingerprints(
      s.service.db,
      now.map((f) => ({ researchSubjectId: f.researchSubjectId, fingerprint: f.fingerprint, outcomes: 7 })),
    );
    await s.service.db.query(
      `INSERT INTO outcome_failures (research_subject_id, attempts, last_error, retry_at) VALUES ($1, 1, 'x', now())`,
      [ids[2]],
    );
    const unchanged = await readChangedSubjectInputs(s.service.db, ids, SCOPE, MEDICATIONS);
    expect(unchanged.changed).toEqual([]);
    expect(unchanged.inputs.subjects.size + unchanged.inputs.patients.size).toBe(0);
    expect(unchanged.fingerprints.map((f) => [f.stored === f.fingerprint, f.outcomes, f.failed]).sort()).toEqual([
      [true, 7, false],
      [true, 7, false],
      [true, 7, true],
    ]);

    const before = await readSubjectInputs(s.service.db, ids, SCOPE.recordTypes, MEDICATIONS);
    // A new result for the first subject of the cohort.
    const c0 = cohort[0] as (typeof cohort)[number];
    const v = { ...(c0.values[0] as (typeof c0.values)[number]), id: 'SYN-IFC-1', day: 300 };
    await postResult(s, c0, v);
    const after = await readChangedSubjectInputs(s.service.db, ids, SCOPE, MEDICATIONS);
    expect(after.changed).toHaveLength(1);
    const changedId = after.changed[0] as string;
    expect(after.inputs).toEqual(await readSubjectInputs(s.service.db, [changedId], SCOPE.recordTypes, MEDICATIONS));
    expect([...after.inputs.subjects.keys()]).toEqual([changedId]);
    const records = after.inputs.records.get(`ResearchSubject/${changedId}`) ?? [];
    // Its new trial record among them.
    expect(records).toHaveLength((before.records.get(`ResearchSubject/${changedId}`)?.length ?? 0) + 1);
    // Its fingerprint moved; the others' did not.
    const fresh = await readFingerprints(s.service.db, ids, SCOPE);
    expect(after.fingerprints.map((f) => f.fingerprint).sort()).toEqual(fresh.map((f) => f.fingerprint).sort());
  });

  it('reads nothing for no subjects', async () => {
    const none = await readChangedSubjectInputs(s.service.db, [], SCOPE, MEDICATIONS);
    expect(none).toEqual({ fingerprints: [], changed: [], inputs: await readSubjectInputs(s.service.db, [], [], []) });
  });
});
