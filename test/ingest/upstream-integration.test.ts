// End to end against a real FHIR server in-process (fhir-router + MemoryRepository on express):
// backfill on enrollment, incremental pull with paging, and write-back.
// Fixtures WRITTEN FOR THE TESTS: a patient, baseline labs and sirolimus troughs held by the EHR.
import type { Bundle, MeasureReport, Observation, Patient, ResearchSubject } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueOutbox } from '../../src/writeback/outbox.ts';
import { type FhirUpstream, startFhirUpstream } from '../support/fhir-upstream.ts';
import { writeAsService } from '../support/service-write.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const TAG = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';
const LAB = 'urn:oid:2.16.840.1.113883.3.9999.lab';
const ALL_OFF = JSON.stringify({
  'outbox-delivery': 'off',
  'upstream-pull': 'off',
  'upstream-backfill': 'off',
});

function lab(patient: string, n: number, code: string, day: string, value: number, unit: string): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: LAB, value: `r-${n}` }],
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: `${day}T08:00:00+08:00`,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(day) + n * 86_400_000).toISOString().slice(0, 10);
}

describe('upstream FHIR server, end to end', () => {
  let up: FhirUpstream;
  let s: TestService;
  let patient: Patient;
  let subject: ResearchSubject;
  const records = async (query = '') =>
    ((await (await s.call(`/fhir/Observation?_tag=${TAG}&_summary=count${query}`)).json()) as Bundle).total;

  beforeAll(async () => {
    up = await startFhirUpstream();
    s = await startTestService({
      UPSTREAM_FHIR_URL: up.base,
      UPSTREAM_AUTH: 'bearer',
      UPSTREAM_BEARER_TOKEN: up.token,
      UPSTREAM_PULL_PAGE_SIZE: '10',
      JOB_SCHEDULES: ALL_OFF,
    });
    patient = await up.create<Patient>({
      resourceType: 'Patient',
      identifier: [{ system: 'urn:oid:1.2.156.mrn', value: 'MRN-4411' }],
      birthDate: '2021-05-01',
      gender: 'female',
    });
    const p = patient.id as string;
    // Screening/baseline labs before treatment start (2022-01-10), one too early for any window.
    await up.create(lab(p, 1, '777-3', '2021-12-20', 25, '10*9/L'));
    await up.create(lab(p, 2, '3255-7', '2022-01-05', 110, 'mg/dL'));
    await up.create(lab(p, 3, '777-3', '2021-10-01', 30, '10*9/L'));
    // A result no study measure uses (heart rate).
    await up.create(lab(p, 4, '8867-4', '2022-01-06', 120, '/min'));
  });
  afterAll(async () => {
    await s.stop();
    await up.close();
  });

  it('backfills the Patient and the baseline window when a subject is enrolled', async () => {
    const res = await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: `Patient/${patient.id}` },
        assignedArm: 'low-dose',
        period: { start: '2022-01-10' },
      }),
    });
    expect(res.status).toBe(201);
    subject = (await res.json()) as ResearchSubject;
    const pull = s.service.upstream.pull;
    if (!pull) throw new Error('pull not wired');
    const summary = await pull.backfillPending();
    expect(summary).toMatchObject({ subjects: 1, refused: 0, errors: [] });
    // Patient + the two labs inside the window; the early one and the heart rate were not asked for.
    expect(summary.fed).toBe(3);
    const local = (await (await s.call(`/fhir/Patient/${patient.id}`)).json()) as Patient;
    expect(local.birthDate).toBe('2021-05-01');
    expect(await records(`&research-subject=ResearchSubject/${subject.id}&visit=baseline`)).toBe(2);
    // Done once: a second run has nothing to backfill.
    expect((await pull.backfillPending()).subjects).toBe(0);
  });

  it('pulls new results incrementally, following next links, into the same records a push makes', async () => {
    const p = patient.id as string;
    const troughs: Observation[] = [];
    for (let i = 0; i < 23; i++) {
      troughs.push(await up.create(lab(p, 100 + i, '29247-4', addDays('2022-01-11', i * 15), 6 + (i % 5), 'ng/mL')));
    }
    // The EHR also pushed one of them itself (same id, as feeds that keep their own ids do).
    const pushed = troughs[0] as Observation;
    const push = await s.call(`/fhir/Observation/${pushed.id}`, {
      method: 'PUT',
      role: 'ehr-feed',
      body: JSON.stringify({ ...pushed, meta: undefined }),
    });
    expect(push.status).toBe(201);
    const pull = s.service.upstream.pull;
    if (!pull) throw new Error('pull not wired');
    up.requests.length = 0;
    const first = await pull.pullAll();
    // 2 baseline + 23 troughs in the study's codes since the window opened: 3 pages of 10.
    expect(first).toMatchObject({ subjects: 1, pages: 3, fed: 25, refused: 0, errors: [] });
    expect(up.requests.filter((r) => r.url.includes('_offset='))).toHaveLength(2);
    expect(await records(`&code=http://loinc.org|29247-4&research-subject=ResearchSubject/${subject.id}`)).toBe(23);
    // The pushed result and its pulled copy are one record, still in its first version.
    const again = (await (await s.call(`/fhir/Observation/${pushed.id}`)).json()) as Observation;
    expect(again.meta?.versionId).toBe('1');

    // The cursor was persisted: the next pull asks only from the last upstream lastUpdated on
    // (inclusive, so results sharing that instant are never missed); those it fed already are
    // read again but not fed again.
    const seen = (await up.repo.searchResources<Observation>({ resourceType: 'Observation' }))
      .map((o) => o.meta?.lastUpdated)
      .filter((lu): lu is string => lu !== undefined);
    const cursor = seen.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
    const sameInstant = seen.filter((lu) => lu === cursor).length;
    const late = await up.create(lab(p, 200, '29247-4', '2022-12-01', 9.5, 'ng/mL'));
    up.requests.length = 0;
    const second = await pull.pullAll();
    expect(new URL(`http://x${up.requests[0]?.url}`).searchParams.get('_lastUpdated')).toBe(`ge${cursor}`);
    expect(second).toMatchObject({
      pages: Math.ceil((sameInstant + 1) / 10),
      fed: 1,
      alreadyFed: sameInstant,
      refused: 0,
      errors: [],
    });
    const got = (await (await s.call(`/fhir/Observation/${late.id}`)).json()) as Observation;
    expect(got.valueQuantity?.value).toBe(9.5);
    expect(await records(`&code=http://loinc.org|29247-4&research-subject=ResearchSubject/${subject.id}`)).toBe(24);

    // Nothing new: the result at the cursor is read, not fed. Amended upstream, it is a new version: fed.
    const cursor2 = late.meta?.lastUpdated as string;
    const third = await pull.pullAll();
    expect(third).toMatchObject({ fed: 0, alreadyFed: 1, errors: [] });
    const amended = await up.repo.updateResource<Observation>({
      ...late,
      status: 'amended',
      valueQuantity: { ...late.valueQuantity, value: 9.9 },
    });
    expect(Date.parse(amended.meta?.lastUpdated as string)).toBeGreaterThanOrEqual(Date.parse(cursor2));
    const fourth = await pull.pullAll();
    expect(fourth).toMatchObject({ fed: 1, errors: [] });
    const corrected = (await (await s.call(`/fhir/Observation/${late.id}`)).json()) as Observation;
    expect(corrected.valueQuantity?.value).toBe(9.9);
  });

  it('writes outcome resources back by business identifier: created once, updated in place, retracted', async () => {
    const worker = s.service.upstream.worker;
    if (!worker) throw new Error('worker not wired');
    const report = (status: MeasureReport['status']): MeasureReport => ({
      resourceType: 'MeasureReport',
      identifier: [{ system: 'https://khe-trial.example.org/fhir/sid/outcome', value: `ttr-${subject.id}` }],
      status,
      type: 'individual',
      measure: 'https://khe-trial.example.org/fhir/Measure/time-in-range',
      subject: { reference: `Patient/${patient.id}` },
      period: { start: '2022-01-10', end: '2022-04-10' },
    });
    // Stored as the outcomes stage stores it, queued without a body: the worker reads the stored version.
    const local = await writeAsService(s, report('pending'));
    const item = {
      resourceType: 'MeasureReport',
      id: local.id as string,
      identifier: `https://khe-trial.example.org/fhir/sid/outcome|ttr-${subject.id}`,
    };
    await s.testDb.db.transaction((tx) => enqueueOutbox(tx, [{ ...item, versionId: 1, operation: 'upsert' }]));
    expect((await worker.drain()).delivered).toBe(1);
    await s.testDb.db.transaction((tx) =>
      enqueueOutbox(tx, [{ ...item, versionId: 2, operation: 'upsert', resource: report('complete') }]),
    );
    expect((await worker.drain()).delivered).toBe(1);
    const search = async () =>
      (
        (await (
          await fetch(`${up.base}/MeasureReport?identifier=${encodeURIComponent(item.identifier)}`, {
            headers: { authorization: `Bearer ${up.token}` },
          })
        ).json()) as Bundle<MeasureReport>
      ).entry?.map((e) => e.resource?.status) ?? [];
    expect(await search()).toEqual(['complete']);
    expect(up.writes.filter((w) => w.url.startsWith('/MeasureReport?identifier='))).toHaveLength(2);

    await s.testDb.db.transaction((tx) => enqueueOutbox(tx, [{ ...item, versionId: 3, operation: 'retract' }]));
    expect((await worker.drain()).delivered).toBe(1);
    expect(await search()).toEqual([]);
  });

  it('refuses a pulled result no patient can have (a negative platelet count), keeping nothing of it', async () => {
    const pull = s.service.upstream.pull;
    if (!pull) throw new Error('pull not wired');
    const before = await records(`&research-subject=ResearchSubject/${subject.id}`);
    const impossible = await up.create(lab(patient.id as string, 300, '777-3', '2022-12-15', -40, '10*9/L'));
    const summary = await pull.pullAll();
    expect(summary).toMatchObject({ refused: 1, errors: [] });
    expect((await s.call(`/fhir/Observation/${impossible.id}`)).status).toBe(404);
    expect(await records(`&research-subject=ResearchSubject/${subject.id}`)).toBe(before);
  });
});
