// Fixtures WRITTEN FOR THE TESTS (an invented child and platelet counts).
import type { Bundle, Observation, ResearchSubject } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const OUTCOMES = 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes';
const VISIT = 'https://khe-trial.example.org/fhir/StructureDefinition/visit';

const platelets = (value: number, when: string, lab: string): Observation => ({
  resourceType: 'Observation',
  identifier: [{ system: 'urn:test:lab', value: lab }],
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
  subject: { reference: 'Patient/late-start-1' },
  effectiveDateTime: when,
  valueQuantity: { value, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
});

describe('a treatment start set or corrected after results arrived', () => {
  let s: TestService;
  let subjectId: string;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  const trialRecords = async () => {
    const b = (await (
      await s.call(
        `/fhir/Observation?research-subject=ResearchSubject/${subjectId}&code=http://loinc.org|777-3&_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record&_sort=date`,
      )
    ).json()) as Bundle<Observation>;
    return (b.entry ?? []).map((e) => e.resource as Observation);
  };
  const visits = async () =>
    (await trialRecords()).map((o) => o.extension?.find((e) => e.url === VISIT)?.valueCoding?.code);
  const plateletChange = async () => {
    const b = (await (
      await s.call(`/fhir/Observation?research-subject=ResearchSubject/${subjectId}&code=${OUTCOMES}|platelet-change`)
    ).json()) as Bundle<Observation>;
    return (b.entry ?? []).map((e) => e.resource as Observation).filter((o) => o.status !== 'entered-in-error');
  };
  const updateSubject = async (change: Partial<ResearchSubject>) => {
    const current = (await (await s.call(`/fhir/ResearchSubject/${subjectId}`)).json()) as ResearchSubject;
    const r = await s.call(`/fhir/ResearchSubject/${subjectId}`, {
      method: 'PUT',
      body: JSON.stringify({ ...current, ...change }),
    });
    expect(r.status, await r.clone().text()).toBe(200);
  };

  it('keeps results unscheduled while the subject has no treatment start', async () => {
    subjectId = await enroll(s, 'late-start-1', { birthDate: '2019-03-01', status: 'screening' });
    for (const [value, when, lab] of [
      [40, '2022-01-05T08:00:00+08:00', 'p-1'],
      [90, '2022-02-09T08:00:00+08:00', 'p-2'],
    ] as const) {
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: JSON.stringify(platelets(value, when, lab)),
      });
      expect(r.status).toBe(201);
    }
    await s.service.outcomes.drain();
    expect(await visits()).toEqual(['unscheduled', 'unscheduled']);
    expect(await plateletChange()).toEqual([]);
  });

  it('places them in the schedule when randomisation sets the start, and computes change from baseline', async () => {
    await updateSubject({ status: 'on-study', assignedArm: 'low-dose', period: { start: '2022-01-10' } });
    // The ResearchSubject write itself marked the subject: no admin call, no new result.
    await s.service.outcomes.drain();
    expect(await visits()).toEqual(['baseline', 'month-1']);
    const records = await trialRecords();
    expect(records.map((o) => o.meta?.versionId)).toEqual(['2', '2']);
    const [change] = await plateletChange();
    expect(change?.valueQuantity?.value).toBe(50);
    expect(change?.extension?.find((e) => e.url === VISIT)?.valueCoding?.code).toBe('month-1');
  });

  it('moves them again when the start is corrected, and amends the change it no longer supports', async () => {
    // Day 26 of a start on 2021-12-10 is month 1; 9 February (day 61) falls in no window.
    await updateSubject({ period: { start: '2021-12-10' } });
    await s.service.outcomes.drain();
    expect(await visits()).toEqual(['month-1', 'unscheduled']);
    // Month 1 now holds the 5 January count and there is no baseline: amended to not evaluable.
    const [change] = await plateletChange();
    expect(change?.status).toBe('amended');
    expect(change?.valueQuantity).toBeUndefined();
    expect(change?.dataAbsentReason).toBeDefined();
    expect(change?.effectiveDateTime).toBe('2022-01-05T08:00:00+08:00');
    // The count of 40 is on treatment again, so its suggested adverse event, deleted when the first
    // start made it pre-treatment, is suggested again as the next version of the same resource.
    const suggested = (await (await s.call('/fhir/AdverseEvent?subject=Patient/late-start-1')).json()) as Bundle;
    expect(suggested.entry).toHaveLength(1);
    const history = (await (
      await s.call(`/fhir/AdverseEvent/${suggested.entry?.[0]?.resource?.id}/_history`)
    ).json()) as Bundle;
    expect(history.entry?.map((e) => [e.request?.method, e.response?.status])).toEqual([
      ['PUT', '200'],
      ['DELETE', '204'],
      ['POST', '201'],
    ]);
  });

  it('leaves records where they are when nothing about the start changed', async () => {
    await updateSubject({ status: 'on-study' });
    const before = (await trialRecords()).map((o) => o.meta?.versionId);
    await s.testDb.db.query('INSERT INTO outcome_marks (research_subject_id) VALUES ($1)', [subjectId]);
    await s.service.outcomes.drain();
    expect((await trialRecords()).map((o) => o.meta?.versionId)).toEqual(before);
  });
});

describe('a Patient or dose write', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });
  const pending = async (): Promise<number> =>
    ((await (await s.call('/admin/outcomes')).json()) as { pendingMarks: number }).pendingMarks;

  it('marks the subjects it is the individual of (a birth date decides age forms and eligibility)', async () => {
    await enroll(s, 'bd-1', { birthDate: '2019-03-01', start: '2022-01-10' });
    await enroll(s, 'bd-2', { birthDate: '2018-03-01', start: '2022-01-10' });
    await s.service.outcomes.drain();
    expect(await pending()).toBe(0);
    const r = await s.call('/fhir/Patient/bd-1', {
      method: 'PUT',
      role: 'ehr-feed',
      body: JSON.stringify({ resourceType: 'Patient', id: 'bd-1', birthDate: '2019-04-01' }),
    });
    expect(r.status).toBe(200);
    expect(await pending()).toBe(1);
    const drained = await s.service.outcomes.drain();
    expect(drained.subjects).toBe(1);
  });

  it('marks the subjects of the patient a sirolimus dose is for, before and after it moves', async () => {
    await s.service.outcomes.drain();
    const dose = {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '35302' }] },
      subject: { reference: 'Patient/bd-1' },
      authoredOn: '2022-01-10',
      dosageInstruction: [
        {
          doseAndRate: [{ doseQuantity: { value: 0.8, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } }],
        },
      ],
    };
    const created = await s.call('/fhir/MedicationRequest', { method: 'POST', body: JSON.stringify(dose) });
    expect(created.status).toBe(201);
    expect(await pending()).toBe(1);
    await s.service.outcomes.drain();
    const { id } = (await created.json()) as { id: string };
    const moved = await s.call(`/fhir/MedicationRequest/${id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...dose, id, subject: { reference: 'Patient/bd-2' } }),
    });
    expect(moved.status).toBe(200);
    expect(await pending()).toBe(2);
    await s.service.outcomes.drain();
    expect((await s.call(`/fhir/MedicationRequest/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await pending()).toBe(1);
  });
});
