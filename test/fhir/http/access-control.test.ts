import type { AuditEvent, Bundle, OperationOutcome, ResearchSubject } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../../src/auth/access-context.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const json = (r: unknown) => JSON.stringify(r);
const trough = (patient: string, value: number) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
});
const platelets = (patient: string) => ({
  ...trough(patient, 90),
  code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
  valueQuantity: { value: 90, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
});

describe('access control over HTTP: roles, masking and audit', () => {
  let s: TestService;
  let subjectId: string;
  beforeAll(async () => {
    s = await startTestService();
    await s.call('/fhir/Patient/ac-1', { method: 'PUT', body: json({ resourceType: 'Patient', id: 'ac-1' }) });
    const subj = await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: json({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: 'Patient/ac-1' },
        assignedArm: 'regular-dose',
        actualArm: 'regular-dose',
        period: { start: '2022-01-10' },
      }),
    });
    subjectId = ((await subj.json()) as ResearchSubject).id as string;
    await s.call(`/fhir/ResearchSubject/${subjectId}`, {
      method: 'PUT',
      body: json({
        resourceType: 'ResearchSubject',
        id: subjectId,
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: 'Patient/ac-1' },
        assignedArm: 'regular-dose',
        period: { start: '2022-01-10' },
      }),
    });
    await s.call('/fhir/Observation', { method: 'POST', body: json(trough('ac-1', 12.5)) });
    await s.call('/fhir/Observation', { method: 'POST', body: json(platelets('ac-1')) });
  });
  afterAll(async () => {
    await s.stop();
  });

  // Expected allow (true) or deny (false) for each role on each route family.
  const routes: [string, string, string, unknown?][] = [
    ['read study', 'GET', '/fhir/ResearchStudy/nct04775173'],
    ['search subjects', 'GET', '/fhir/ResearchSubject?study=ResearchStudy/nct04775173'],
    ['create lab result', 'POST', '/fhir/Observation', platelets('ac-1')],
    ['search observations', 'GET', '/fhir/Observation?patient=ac-1'],
    [
      'enrol a subject',
      'POST',
      '/fhir/ResearchSubject',
      {
        resourceType: 'ResearchSubject',
        status: 'candidate',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: 'Patient/ac-1' },
        period: { start: '2022-01-10' },
      },
    ],
    ['update the study', 'PUT', '/fhir/ResearchStudy/nct04775173'],
    ['search audit events', 'GET', '/fhir/AuditEvent?_count=1'],
    ['read a patient', 'GET', '/fhir/Patient/ac-1'],
  ];
  const matrix: Record<Role, boolean[]> = {
    //           study  subj  create obs   enrol  study-w audit patient
    'ehr-feed': [false, false, true, false, false, false, false, false],
    research: [true, true, false, true, false, false, false, true],
    'outcome-assessor': [true, true, false, true, false, false, false, false],
    clinician: [true, true, false, true, false, false, false, true],
    admin: [true, true, true, true, true, true, true, true],
  };

  for (const [role, expected] of Object.entries(matrix) as [Role, boolean[]][]) {
    it(`enforces the route matrix for ${role}`, async () => {
      const got: boolean[] = [];
      for (const [, method, path, body] of routes) {
        let payload = body;
        if (method === 'PUT') {
          payload = (await (await s.call(path)).json()) as unknown;
        }
        const res = await s.call(path, { method, role, ...(payload ? { body: json(payload) } : {}) });
        if (res.status === 403) {
          const oo = (await res.json()) as OperationOutcome;
          expect(oo.issue?.[0]?.code).toBe('forbidden');
        }
        expect([200, 201, 403]).toContain(res.status);
        got.push(res.status !== 403);
      }
      expect(Object.fromEntries(routes.map(([name], i) => [name, got[i]]))).toEqual(
        Object.fromEntries(routes.map(([name], i) => [name, expected[i]])),
      );
    });
  }

  it('checks every Bundle entry on its own', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: platelets('ac-1'), request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'GET', url: 'ResearchSubject' } },
      ],
    };
    const res = await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: json(bundle) });
    const out = (await res.json()) as Bundle;
    expect(out.entry?.map((e) => e.response?.status.split(' ')[0])).toEqual(['201', '403']);
    const tx = await s.call('/fhir', {
      method: 'POST',
      role: 'ehr-feed',
      body: json({ ...bundle, type: 'transaction' }),
    });
    expect(tx.status).toBe(403);
  });

  it('never shows an outcome assessor the arm: read, search, _include, history', async () => {
    const read = (await (
      await s.call(`/fhir/ResearchSubject/${subjectId}`, { role: 'outcome-assessor' })
    ).json()) as ResearchSubject;
    expect(read.id).toBe(subjectId);
    expect(read.assignedArm).toBeUndefined();
    expect(read.actualArm).toBeUndefined();
    const adminRead = (await (await s.call(`/fhir/ResearchSubject/${subjectId}`)).json()) as ResearchSubject;
    expect(adminRead.assignedArm).toBe('regular-dose');

    const searched = await (
      await s.call('/fhir/ResearchSubject?study=ResearchStudy/nct04775173&_include=ResearchSubject:individual', {
        role: 'outcome-assessor',
      })
    ).text();
    expect(searched).not.toContain('regular-dose');
    expect(searched).not.toContain('assignedArm');

    const history = await (
      await s.call(`/fhir/ResearchSubject/${subjectId}/_history`, { role: 'outcome-assessor' })
    ).text();
    expect(history).toContain(subjectId);
    expect(history).not.toContain('regular-dose');
    const vread = await (
      await s.call(`/fhir/ResearchSubject/${subjectId}/_history/1`, { role: 'outcome-assessor' })
    ).text();
    expect(vread).not.toContain('regular-dose');

    expect((await s.call('/fhir/ResearchSubject?assigned-arm=low-dose', { role: 'outcome-assessor' })).status).toBe(
      403,
    );
  });

  it('hides sirolimus levels from outcome assessors without leaking them through counts', async () => {
    const b = (await (await s.call('/fhir/Observation?patient=ac-1', { role: 'outcome-assessor' })).json()) as Bundle;
    const codes = b.entry?.map((e) => (e.resource as { code: { coding: { code: string }[] } }).code.coding[0]?.code);
    expect(codes).not.toContain('29247-4');
    expect(b.total).toBe(b.entry?.length);
    const admin = (await (await s.call('/fhir/Observation?patient=ac-1')).json()) as Bundle;
    expect(admin.total).toBeGreaterThan(b.total as number);
  });

  it('records an AuditEvent for reads, writes and refusals, and AuditEvents are immutable', async () => {
    const marker = `marker-${Date.now()}`;
    await s.call(`/fhir/Patient?identifier=urn:x|${marker}`, { role: 'research' });
    await s.call('/fhir/ResearchSubject', { role: 'ehr-feed' });
    const created = await s.call('/fhir/Patient', { method: 'POST', body: json({ resourceType: 'Patient' }) });
    const createdId = ((await created.json()) as { id: string }).id;

    const events = (await (
      await s.call('/fhir/AuditEvent?_count=200&_sort=-_lastUpdated')
    ).json()) as Bundle<AuditEvent>;
    const all = events.entry?.map((e) => e.resource as AuditEvent) ?? [];
    const search = all.find((e) =>
      e.entity?.some((x) => x.query && Buffer.from(x.query, 'base64').toString().includes(marker)),
    );
    expect(search?.action).toBe('E');
    expect(search?.outcome).toBe('0');
    expect(search?.agent?.[0]?.role?.[0]?.coding?.[0]?.code).toBe('research');
    const refused = all.find((e) => e.agent?.[0]?.role?.[0]?.coding?.[0]?.code === 'ehr-feed' && e.outcome === '4');
    expect(refused).toBeDefined();
    const create = all.find((e) => e.entity?.some((x) => x.what?.reference === `Patient/${createdId}`));
    expect(create?.action).toBe('C');

    const id = all[0]?.id as string;
    expect((await s.call(`/fhir/AuditEvent/${id}`, { method: 'DELETE' })).status).toBe(405);
    const current = await (await s.call(`/fhir/AuditEvent/${id}`)).json();
    expect((await s.call(`/fhir/AuditEvent/${id}`, { method: 'PUT', body: json(current) })).status).toBe(405);
    expect((await s.call('/fhir/AuditEvent', { method: 'POST', body: json(current) })).status).toBe(405);
  });

  it('answers 401 with WWW-Authenticate without a valid token, and keeps discovery public', async () => {
    const res = await s.call('/fhir/Patient', { role: 'none' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const bad = await s.call('/fhir/Patient', { role: 'none', headers: { authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
    for (const path of ['/fhir/metadata', '/.well-known/smart-configuration', '/healthz', '/readyz']) {
      expect((await fetch(`${s.url}${path}`)).status).toBe(200);
    }
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    expect((await s.call('/metrics', { role: 'research' })).status).toBe(403);
    const metrics = await s.call('/metrics');
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(
      /khe_http_request_duration_seconds_count\{method="GET",route="\/fhir\/Patient",status="401"\} \d+/,
    );
  });
});
