import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';

const patient = (fullUrl: string) => ({
  fullUrl,
  resource: { resourceType: 'Patient', active: true },
  request: { method: 'POST', url: 'Patient' },
});

describe('transactions: bdl-7, dangling urn:uuid and reference target types', () => {
  let s: TestService;
  const countPatients = async (): Promise<number> =>
    ((await (await s.call('/fhir/Patient?_summary=count')).json()) as Bundle).total ?? -1;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  async function post(bundle: object): Promise<{ status: number; outcome: OperationOutcome }> {
    const res = await s.call('/fhir', { method: 'POST', body: JSON.stringify(bundle) });
    return { status: res.status, outcome: (await res.json()) as OperationOutcome };
  }

  it('refuses a duplicate fullUrl (bdl-7) naming the entry, storing nothing', async () => {
    const before = await countPatients();
    const url = 'urn:uuid:0c3f7e9a-51f4-4b8e-9b43-2f1f0d7b6a10';
    const r = await post({ resourceType: 'Bundle', type: 'transaction', entry: [patient(url), patient(url)] });
    expect(r.status).toBe(400);
    expect(r.outcome.issue?.[0]?.details?.text).toMatch(/Bundle\.entry\[1\]\.fullUrl .*bdl-7/);
    expect(r.outcome.issue?.[0]?.expression).toEqual(['Bundle.entry[1].fullUrl']);
    expect(await countPatients()).toBe(before);
  });

  it('refuses a urn:uuid reference that no entry defines, naming the entry', async () => {
    const before = await countPatients();
    const r = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        patient('urn:uuid:1d4b8f0e-6a7c-4c55-8e1b-3a9d2f6c7b21'),
        {
          fullUrl: 'urn:uuid:2e5c9a1f-7b8d-4d66-9f2c-4b0e3a7d8c32',
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'x' },
            subject: { reference: 'urn:uuid:99999999-0000-4000-8000-000000000000' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    expect(r.status).toBe(400);
    expect(r.outcome.issue?.[0]?.details?.text).toMatch(/Bundle\.entry\[1\] refers to urn:uuid:99999999/);
    expect(await countPatients()).toBe(before);
  });

  it('still resolves urn:uuid references to entries', async () => {
    const p = 'urn:uuid:3f6dab2a-8c9e-4e77-a03d-5c1f4b8e9d43';
    const r = await s.call('/fhir', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          patient(p),
          {
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: p } },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      }),
    });
    expect(r.status).toBe(200);
  });

  it('refuses an Observation whose subject is a Practitioner, alone or in a transaction', async () => {
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Practitioner/x' },
    };
    const single = await s.call('/fhir/Observation', { method: 'POST', body: JSON.stringify(obs) });
    expect(single.status).toBe(422);
    expect(((await single.json()) as OperationOutcome).issue?.[0]?.expression).toEqual(['Observation.subject']);
    const r = await post({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: obs, request: { method: 'POST', url: 'Observation' } }],
    });
    expect(r.status).toBe(422);
  });
});
