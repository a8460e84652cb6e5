// SYNTHETIC COHORT, WRITTEN FOR THE TESTS. A recomputation lets the rest of the service run between
// its batches: on PGlite each statement runs synchronously in the service's thread, and a drain's
// batches used to follow one another without the event loop ever turning (no request read, no job
// timer fired) until the whole recomputation had ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollmentBundle, feedBundle, syntheticCohort } from '../support/synthetic-cohort.ts';
import { testBackend } from '../support/test-db.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

describe(`a recomputation in batches leaves room for requests (${testBackend()})`, () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    const cohort = syntheticCohort(12);
    const enrolled = await s.call('/fhir', { method: 'POST', body: JSON.stringify(enrollmentBundle(cohort)) });
    expect(enrolled.status).toBe(200);
    for (const c of cohort) {
      const f = await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(feedBundle(c)) });
      expect(f.status).toBe(200);
    }
    // The token is fetched now, not while the recomputation runs.
    await s.token('research');
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

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
});
