/**
 * What research clients pull, over HTTP on the real app: every searchable trial resource, the joins
 * (_include/_revinclude), derived study and arm Groups, Patient/$everything, and two off-the-shelf
 * FHIR clients searching and paging unmodified. Data written for the tests.
 */
import { MedplumClient } from '@medplum/core';
import type { Bundle, Group, Observation, OperationOutcome, ResearchSubject, Resource } from '@medplum/fhirtypes';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../../src/auth/access-context.ts';
import { writeAsService } from '../../support/service-write.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const STUDY = 'ResearchStudy/nct04775173';
const PROJECT = 'https://khe-trial.example.org/fhir';
const TRIAL_TAG = `${PROJECT}/CodeSystem/record-kind|trial-record`;
const json = (r: unknown) => JSON.stringify(r);

describe('research pull: search coverage, Groups, $everything, off-the-shelf clients', () => {
  let s: TestService;
  const subjects: Record<string, string> = {};
  let sourceId = '';
  let recordId = '';

  const create = async <T extends Resource>(r: T): Promise<T> => {
    const res = await s.call(`/fhir/${r.resourceType}`, { method: 'POST', body: json(r) });
    if (res.status !== 201) throw new Error(`${r.resourceType}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const search = async (query: string, role: Role = 'research'): Promise<Bundle> => {
    const res = await s.call(`/fhir/${query}`, { role });
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Bundle;
  };
  const ids = (b: Bundle, mode = 'match') =>
    (b.entry ?? [])
      .filter((e) => e.search?.mode === mode)
      .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)
      .sort();
  const subject = (patient: string, arm: string, status: ResearchSubject['status'] = 'on-study'): ResearchSubject => ({
    resourceType: 'ResearchSubject',
    status,
    study: { reference: STUDY },
    individual: { reference: `Patient/${patient}` },
    assignedArm: arm,
    period: { start: '2022-01-10' },
  });

  beforeAll(async () => {
    s = await startTestService();
    for (const p of ['rp-1', 'rp-2', 'rp-3']) {
      await s.call(`/fhir/Patient/${p}`, { method: 'PUT', body: json({ resourceType: 'Patient', id: p }) });
    }
    subjects['rp-1'] = (await create(subject('rp-1', 'low-dose'))).id as string;
    subjects['rp-2'] = (await create(subject('rp-2', 'regular-dose'))).id as string;
    subjects['rp-3'] = (await create(subject('rp-3', 'low-dose', 'withdrawn'))).id as string;
    const source = await create<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
      subject: { reference: 'Patient/rp-1' },
      effectiveDateTime: '2022-02-10T08:00:00+08:00',
      valueQuantity: { value: 90, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
    });
    sourceId = source.id as string;
    const record = await writeAsService<Observation>(s, {
      resourceType: 'Observation',
      meta: { tag: [{ system: `${PROJECT}/CodeSystem/record-kind`, code: 'trial-record' }] },
      extension: [
        { url: 'http://hl7.org/fhir/StructureDefinition/workflow-researchStudy', valueReference: { reference: STUDY } },
        {
          url: `${PROJECT}/StructureDefinition/research-subject`,
          valueReference: { reference: `ResearchSubject/${subjects['rp-1']}` },
        },
        {
          url: `${PROJECT}/StructureDefinition/visit`,
          valueCoding: { system: `${PROJECT}/CodeSystem/trial-visit`, code: 'month-1' },
        },
      ],
      status: 'final',
      code: { coding: [{ system: `${PROJECT}/CodeSystem/trial-measure`, code: 'platelets' }] },
      subject: { reference: 'Patient/rp-1' },
      effectiveDateTime: '2022-02-10T08:00:00+08:00',
      valueQuantity: { value: 90, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
      derivedFrom: [{ reference: `Observation/${sourceId}` }],
    });
    recordId = record.id as string;
    await writeAsService(s, {
      resourceType: 'Provenance',
      target: [{ reference: `Observation/${recordId}` }],
      recorded: '2022-02-10T09:00:00Z',
      agent: [{ who: { display: 'KHE trial adapter' } }],
    });
    await create({
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      subject: { reference: 'Patient/rp-1' },
      authored: '2022-02-10',
    });
    await create({
      resourceType: 'AdverseEvent',
      actuality: 'actual',
      subject: { reference: 'Patient/rp-1' },
      study: [{ reference: STUDY }],
      date: '2022-03-01',
      severity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/adverse-event-severity', code: 'mild' }] },
    });
    await writeAsService(s, {
      resourceType: 'MeasureReport',
      status: 'complete',
      type: 'individual',
      measure: `${PROJECT}/Measure/time-in-range`,
      subject: { reference: 'Patient/rp-1' },
      period: { start: '2022-01-10', end: '2022-04-10' },
    });
    await writeAsService(s, {
      resourceType: 'Flag',
      status: 'active',
      code: { text: 'Trough out of range' },
      subject: { reference: 'Patient/rp-1' },
    });
    await create({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
      subject: { reference: 'Patient/rp-1' },
      valueQuantity: { value: 7.5, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('finds ResearchSubjects by study, status and (for authorised roles) arm', async () => {
    expect(ids(await search(`ResearchSubject?study=${STUDY}&status=on-study`))).toEqual(
      [subjects['rp-1'], subjects['rp-2']].map((id) => `ResearchSubject/${id}`).sort(),
    );
    expect(ids(await search(`ResearchSubject?study=${STUDY}&arm=low-dose`))).toEqual(
      [subjects['rp-1'], subjects['rp-3']].map((id) => `ResearchSubject/${id}`).sort(),
    );
    const blinded = await s.call(`/fhir/ResearchSubject?arm=low-dose`, { role: 'outcome-assessor' });
    expect(blinded.status).toBe(403);
    const joined = await search(`ResearchSubject?study=${STUDY}&status=on-study&_include=ResearchSubject:individual`);
    expect(ids(joined, 'include')).toEqual(['Patient/rp-1', 'Patient/rp-2']);
  });

  it('finds trial records by study, research-subject, patient, code, visit, date and status, with their joins', async () => {
    const q =
      `Observation?_tag=${encodeURIComponent(TRIAL_TAG)}&study=${STUDY}&research-subject=ResearchSubject/${subjects['rp-1']}` +
      `&patient=rp-1&subject=Patient/rp-1&code=${encodeURIComponent(`${PROJECT}/CodeSystem/trial-measure|platelets`)}` +
      `&visit=month-1&date=ge2022-02-01&date=lt2022-03-01&status=final`;
    expect(ids(await search(q))).toEqual([`Observation/${recordId}`]);
    expect(ids(await search(q.replace('month-1', 'month-3')))).toEqual([]);
    const derived = await search(`Observation?_id=${recordId}&_include=Observation:derived-from`);
    expect(ids(derived, 'include')).toEqual([`Observation/${sourceId}`]);
    const provenance = await search(`Observation?_id=${recordId}&_revinclude=Provenance:target`);
    expect(ids(provenance, 'include')).toHaveLength(1);
    expect(ids(provenance, 'include')[0]).toMatch(/^Provenance\//);
  });

  it('searches the other trial resources', async () => {
    for (const q of [
      'QuestionnaireResponse?patient=rp-1&status=completed',
      `AdverseEvent?study=${STUDY}&subject=Patient/rp-1&severity=mild`,
      'MeasureReport?patient=rp-1&status=complete',
      `Provenance?target=Observation/${recordId}`,
      'Flag?patient=rp-1',
      'ResearchStudy?identifier=https://clinicaltrials.gov|NCT04775173',
    ]) {
      expect((await search(q)).entry, q).toHaveLength(1);
    }
  });

  it('derives a Group per study and per arm from the enrolled ResearchSubjects', async () => {
    const groups = await search(`Group?study=${STUDY}`);
    expect(ids(groups)).toEqual([
      'Group/study-nct04775173',
      'Group/study-nct04775173-arm-low-dose',
      'Group/study-nct04775173-arm-regular-dose',
    ]);
    const members = (g: Group) => (g.member ?? []).map((m) => m.entity.reference).sort();
    const read = async (id: string) =>
      (await (await s.call(`/fhir/Group/${id}`, { role: 'research' })).json()) as Group;
    expect(members(await read('study-nct04775173'))).toEqual(['Patient/rp-1', 'Patient/rp-2']);
    expect(members(await read('study-nct04775173-arm-low-dose'))).toEqual(['Patient/rp-1']);
    // Enrolment changes show at the next read; concurrent enrolments are all counted.
    const more = ['rp-4', 'rp-5', 'rp-6', 'rp-7', 'rp-8', 'rp-9'];
    await Promise.all(
      more.map((p) => s.call(`/fhir/Patient/${p}`, { method: 'PUT', body: json({ resourceType: 'Patient', id: p }) })),
    );
    await Promise.all([
      ...more.map((p, i) => create(subject(p, i % 2 ? 'low-dose' : 'regular-dose'))),
      read('study-nct04775173'),
      read('study-nct04775173'),
    ]);
    const study = await read('study-nct04775173');
    expect(members(study)).toEqual([...['rp-1', 'rp-2'], ...more].map((p) => `Patient/${p}`).sort());
    expect(study.quantity).toBe(8);
    const withdrawn = { ...subject('rp-2', 'regular-dose', 'withdrawn'), id: subjects['rp-2'] };
    await s.call(`/fhir/ResearchSubject/${subjects['rp-2']}`, { method: 'PUT', body: json(withdrawn) });
    expect(members(await read('study-nct04775173'))).not.toContain('Patient/rp-2');
    const history = (await (await s.call('/fhir/Group/study-nct04775173/_history')).json()) as Bundle;
    expect(history.total).toBeGreaterThanOrEqual(3);
    // The arm Groups reveal the arm: labelled so that blinded callers never get them.
    const arm = await read('study-nct04775173-arm-low-dose');
    expect(arm.meta?.security?.[0]?.code).toBe('arm-revealing');
    expect((await s.call('/fhir/Group/study-nct04775173', { role: 'outcome-assessor' })).status).toBe(403);
  });

  it('answers Patient/$everything with what the trial holds about that patient, paged and masked', async () => {
    const all: string[] = [];
    let url: string | undefined = '/fhir/Patient/rp-1/$everything?_count=3';
    let pages = 0;
    while (url) {
      const res = await s.call(url, { role: 'research' });
      expect(res.status).toBe(200);
      const b = (await res.json()) as Bundle;
      expect(b.type).toBe('searchset');
      expect((b.entry ?? []).length).toBeLessThanOrEqual(3);
      all.push(...ids(b));
      const next = b.link?.find((l) => l.relation === 'next')?.url;
      url = next ? next.slice(s.url.length) : undefined;
      pages++;
    }
    expect(pages).toBeGreaterThan(2);
    const types = new Set(all.map((r) => r.split('/')[0]));
    for (const t of [
      'Patient',
      'ResearchSubject',
      'Observation',
      'QuestionnaireResponse',
      'AdverseEvent',
      'MeasureReport',
      'Flag',
    ]) {
      expect(types.has(t), t).toBe(true);
    }
    expect(all).toContain(`ResearchSubject/${subjects['rp-1']}`);
    expect(all).not.toContain('Patient/rp-2');
    expect(types.has('AuditEvent')).toBe(false);
    expect(new Set(all).size).toBe(all.length);

    // Only the types the caller may search: a clinician gets no Provenance, an outcome assessor no Patient.
    const clinician = (await (await s.call('/fhir/Patient/rp-1/$everything', { role: 'clinician' })).json()) as Bundle;
    expect(ids(clinician).some((r) => r.startsWith('Provenance/'))).toBe(false);
    expect(ids(clinician).some((r) => r.startsWith('Observation/'))).toBe(true);
    expect((await s.call('/fhir/Patient/rp-1/$everything', { role: 'outcome-assessor' })).status).toBe(403);
    const typed = await search('Patient/rp-1/$everything?_type=Observation');
    expect(ids(typed).every((r) => r.startsWith('Observation/'))).toBe(true);
    expect((await s.call('/fhir/Patient/nobody/$everything')).status).toBe(404);
    const bad = await s.call('/fhir/Patient/rp-1/$everything?_count=zero');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
  });

  /** An unmodified MedplumClient with the research role's token. */
  async function medplumAsResearch(): Promise<MedplumClient> {
    const medplum = new MedplumClient({
      baseUrl: s.url,
      fhirUrlPath: 'fhir',
      cacheTime: 0,
      extendedMode: false,
      fetch: globalThis.fetch,
    });
    medplum.setAccessToken(await s.token('research'));
    return medplum;
  }

  it('works with MedplumClient unmodified: search and paging', async () => {
    const medplum = await medplumAsResearch();
    const pages: number[] = [];
    const seen: string[] = [];
    for await (const page of medplum.searchResourcePages('ResearchSubject', { study: STUDY, _count: '2' })) {
      pages.push(page.length);
      seen.push(...page.map((r) => r.id as string));
    }
    expect(pages.length).toBeGreaterThan(2);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(9);
    const group = await medplum.readResource('Group', 'study-nct04775173');
    expect(group.member?.length).toBe(7);
    const bundle = await medplum.search('Observation', { _id: recordId, _include: 'Observation:derived-from' });
    expect(bundle.entry?.map((e) => e.search?.mode).sort()).toEqual(['include', 'match']);
  });

  it("pages one patient's measure newest first with MedplumClient (the search that runs as one prepared statement)", async () => {
    await s.call('/fhir/Patient/rp-mc', { method: 'PUT', body: json({ resourceType: 'Patient', id: 'rp-mc' }) });
    const dates = ['2022-01-05', '2022-03-05', '2022-02-05', '2022-04-05'];
    for (const d of dates)
      await create<Observation>({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
        subject: { reference: 'Patient/rp-mc' },
        effectiveDateTime: `${d}T08:00:00Z`,
        valueQuantity: { value: 90, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
      });
    const medplum = await medplumAsResearch();
    const seen: string[] = [];
    let pages = 0;
    for await (const page of medplum.searchResourcePages('Observation', {
      subject: 'Patient/rp-mc',
      code: 'http://loinc.org|777-3',
      _sort: '-date',
      _count: '1',
    })) {
      pages++;
      seen.push(...page.map((o) => (o.effectiveDateTime ?? '').slice(0, 10)));
    }
    expect(pages).toBe(4);
    expect(seen).toEqual([...dates].sort().reverse());
  });

  it('works with fhir-kit-client unmodified: search and paging', async () => {
    const client = new Client({ baseUrl: s.fhir, bearerToken: await s.token('research') });
    // fhir-kit-client has its own FHIR types: read its answers as the standard's JSON.
    const asBundle = (r: unknown): Bundle => r as Bundle;
    let bundle = asBundle(
      await client.search({
        resourceType: 'ResearchSubject',
        searchParams: { study: STUDY, _count: 4 },
      }),
    );
    const seen: string[] = [];
    let pages = 0;
    for (;;) {
      pages++;
      seen.push(...(bundle.entry ?? []).map((e) => e.resource?.id as string));
      const next = client.nextPage({ bundle: bundle as never });
      if (!next) break;
      bundle = asBundle(await next);
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(9);
    const patient = (await client.read({ resourceType: 'Patient', id: 'rp-1' })) as Resource;
    expect(patient.id).toBe('rp-1');
  });
});
