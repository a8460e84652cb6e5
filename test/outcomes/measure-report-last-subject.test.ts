// Fixtures WRITTEN FOR THE TESTS (an invented child and adverse event).
import type { MeasureReport } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const REPORT = '/fhir/MeasureReport/mr-nct04775173-regular-dose-overall';

describe('a per-arm MeasureReport whose last subject leaves', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  const report = async (): Promise<MeasureReport & { meta: { versionId: string } }> => {
    const r = await s.call(REPORT, { role: 'research' });
    expect(r.status).toBe(200);
    return (await r.json()) as MeasureReport & { meta: { versionId: string } };
  };
  const counts = (mr: MeasureReport) =>
    Object.fromEntries((mr.group ?? []).map((g) => [g.code?.text, g.population?.[0]?.count]));

  it('is recounted over zero subjects instead of keeping the departed subject’s numbers', async () => {
    const subjectId = await enroll(s, 'leaver-1', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      arm: 'regular-dose',
    });
    const ae = await s.call('/fhir/AdverseEvent', {
      method: 'POST',
      role: 'ehr-feed',
      body: JSON.stringify({
        resourceType: 'AdverseEvent',
        actuality: 'actual',
        extension: [
          {
            url: 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade',
            valueCodeableConcept: {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/adverse-event-clinical-research-grades', code: '2' },
              ],
            },
          },
        ],
        event: { coding: [{ system: 'https://www.meddra.org', code: '10028130', display: 'Mucositis oral' }] },
        subject: { reference: 'Patient/leaver-1' },
        date: '2022-02-01',
      }),
    });
    expect(ae.status).toBe(201);
    await s.service.outcomes.drain();
    const before = await report();
    expect(counts(before)['ae-term']).toBe(1);

    // Enrolled in error: the ResearchSubject is deleted, so every outcome of it is retracted.
    expect((await s.call(`/fhir/ResearchSubject/${subjectId}`, { method: 'DELETE' })).status).toBe(204);
    await s.service.outcomes.drain();
    const after = await report();
    expect(Number(after.meta.versionId)).toBe(Number(before.meta.versionId) + 1);
    expect(Object.keys(counts(after)).sort()).toEqual(Object.keys(counts(before)).sort());
    expect(Object.values(counts(after)).every((n) => n === 0)).toBe(true);
    expect(after.group?.some((g) => g.stratifier !== undefined || g.measureScore !== undefined)).toBe(false);

    // Marked again with nothing new (a re-delivered mark): the emptied report is not rewritten.
    await s.testDb.db.query('INSERT INTO outcome_marks (research_subject_id) VALUES ($1)', [subjectId]);
    await s.service.outcomes.drain();
    expect((await report()).meta.versionId).toBe(after.meta.versionId);
  });
});
