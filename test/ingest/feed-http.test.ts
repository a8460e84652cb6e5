import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/test-service.ts';

const json = (r: unknown) => JSON.stringify(r);
const UNIT: Record<string, [number, string]> = {
  '777-3': [88, '10*9/L'],
  '3255-7': [120, 'mg/dL'],
  '718-7': [10, 'g/dL'],
};
const result = (patient: string, code = '777-3', id?: string) => ({
  resourceType: 'Observation',
  ...(id ? { id } : {}),
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  valueQuantity: {
    value: UNIT[code]?.[0],
    unit: UNIT[code]?.[1],
    system: 'http://unitsofmeasure.org',
    code: UNIT[code]?.[1],
  },
});
/** Source results only, not the trial records derived from them. */
const SOURCES = '_tag:not=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';

describe('EHR feed pushes over HTTP', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: json({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: 'Patient/in-trial' },
        assignedArm: 'low-dose',
        period: { start: '2022-01-10' },
      }),
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  const count = async (query: string): Promise<number> =>
    ((await (await s.call(`/fhir/Observation?_summary=count&${query}`)).json()) as Bundle).total ?? -1;

  it('answers 202 with an information outcome for results it does not keep, and stores nothing', async () => {
    const res = await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: json(result('outsider')) });
    expect(res.status).toBe(202);
    const oo = (await res.json()) as OperationOutcome;
    expect(oo.issue?.[0]?.severity).toBe('information');
    expect(oo.issue?.[0]?.details?.text).toMatch(/not enrolled/);
    const irrelevant = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: json(result('in-trial', '718-7')),
    });
    expect(irrelevant.status).toBe(202);
    expect(((await irrelevant.json()) as OperationOutcome).issue?.[0]?.details?.text).toMatch(/no measure/);
    expect(await count('patient=outsider')).toBe(0);
    expect(await count('patient=in-trial&code=http://loinc.org|718-7')).toBe(0);
    const patient = await s.call('/fhir/Patient/outsider', {
      method: 'PUT',
      role: 'ehr-feed',
      body: json({ resourceType: 'Patient', id: 'outsider' }),
    });
    expect(patient.status).toBe(202);
    expect((await s.call('/fhir/Patient/outsider')).status).toBe(404);
  });

  it('keeps an enrolled subject’s result, with the EHR’s own id and idempotent repeats', async () => {
    const put = () =>
      s.call('/fhir/Observation/ehr-lab-1', {
        method: 'PUT',
        role: 'ehr-feed',
        body: json(result('in-trial', '777-3', 'ehr-lab-1')),
      });
    const first = await put();
    expect(first.status).toBe(201);
    const again = await put();
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).toBe('W/"1"');
    const metrics = await (await s.call('/metrics')).text();
    expect(metrics).toMatch(/khe_ingest_results_total\{outcome="duplicate",resource_type="Observation"\} 1/);
  });

  it('routes each entry of a transaction: kept entries commit, the rest are answered 202', async () => {
    const res = await s.call('/fhir', {
      method: 'POST',
      role: 'ehr-feed',
      body: json({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: result('in-trial', '3255-7'), request: { method: 'POST', url: 'Observation' } },
          { resource: result('outsider', '3255-7'), request: { method: 'POST', url: 'Observation' } },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as Bundle;
    expect(out.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '202 Accepted']);
    expect(await count(`code=http://loinc.org|3255-7&${SOURCES}`)).toBe(1);
  });

  it('rejects an invalid result of an enrolled subject with 422 and counts it', async () => {
    const bad = { ...result('in-trial'), status: 'done' };
    const res = await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: json(bad) });
    expect(res.status).toBe(422);
    const metrics = await (await s.call('/metrics')).text();
    expect(metrics).toMatch(/khe_ingest_results_total\{outcome="rejected",resource_type="Observation"\} 1/);
  });
});
