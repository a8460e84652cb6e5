import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBundle } from '../../src/fhir/bundle/process-bundle.ts';
import { dispatch, splitUrl } from '../../src/fhir/dispatch.ts';
import type { FhirContext } from '../../src/fhir/fhir-context.ts';
import { createValidator } from '../../src/fhir/validate.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

const BASE = 'http://localhost/fhir';

describe('dispatch (store-level FHIR interactions)', () => {
  let t: TestDb;
  let ctx: FhirContext;
  beforeAll(async () => {
    t = await openTestDb();
    ctx = {
      db: t.db,
      baseUrl: BASE,
      access: undefined,
      authorize: () => undefined,
      can: () => true,
      validator: createValidator({ get: () => undefined }),
    };
  });
  afterAll(async () => {
    await t.drop();
  });

  const run = (method: string, url: string, body?: unknown) => {
    const { path, query } = splitUrl(url);
    return t.db.transaction((tx) =>
      dispatch(ctx, tx, { method, path, query, body: body as Patient | undefined, strict: false }),
    );
  };

  it('creates, reads, updates and searches with version history', async () => {
    const created = await run('POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:mrn', value: 'A1' }],
      name: [{ family: 'Zhou', given: ['Lin'] }],
      birthDate: '2020-05-01',
    });
    expect(created.status).toBe(201);
    const p = JSON.parse(created.body as string) as Patient;
    expect(p.meta?.versionId).toBe('1');
    const upd = await run('PUT', `Patient/${p.id}`, { ...p, gender: 'female' });
    expect(upd.status).toBe(200);
    expect(upd.versionId).toBe(2);
    const found = await run('GET', 'Patient?identifier=urn:mrn|A1&name=zho');
    const bundle = JSON.parse(found.body as string) as Bundle;
    expect(bundle.total).toBe(1);
    expect((bundle.entry?.[0]?.resource as Patient | undefined)?.gender).toBe('female');
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
      subject: { reference: `Patient/${p.id}` },
      effectiveDateTime: '2021-03-04T10:00:00+08:00',
      valueQuantity: { value: 45, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
    };
    await run('POST', 'Observation', obs);
    const byDate = await run(
      'GET',
      `Observation?patient=${p.id}&date=ge2021-03-04&date=lt2021-03-05&code=http://loinc.org|777-3&_include=Observation:subject`,
    );
    const b2 = JSON.parse(byDate.body as string) as Bundle;
    expect(b2.total).toBe(1);
    expect(b2.entry?.map((e) => e.search?.mode)).toEqual(['match', 'include']);
  });

  it('runs a transaction with urn:uuid references all-or-nothing', async () => {
    const tx: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:11111111-1111-1111-1111-111111111111',
          resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'x' },
            subject: { reference: 'urn:uuid:11111111-1111-1111-1111-111111111111' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const r = await processBundle(ctx, tx, { strict: false, returnMinimal: false, maxEntries: 100 });
    const resp = JSON.parse(r.body as string) as Bundle;
    expect(resp.type).toBe('transaction-response');
    const obs = resp.entry?.[1]?.resource as Observation;
    expect(obs.subject?.reference).toMatch(/^Patient\/[0-9a-f-]{36}$/);
    const bad: Bundle = {
      ...tx,
      entry: [
        ...(tx.entry ?? []),
        {
          resource: { resourceType: 'Patient', gender: 'nonsense' } as unknown as Patient,
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    };
    const before = await t.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM resources WHERE resource_type='Patient'",
    );
    await expect(processBundle(ctx, bad, { strict: false, returnMinimal: false, maxEntries: 100 })).rejects.toThrow();
    const after = await t.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM resources WHERE resource_type='Patient'",
    );
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
  });
});
