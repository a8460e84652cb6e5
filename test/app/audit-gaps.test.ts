// Fixtures WRITTEN FOR THE TESTS (invented child).
// Issue 17: every access to trial data leaves an AuditEvent committed before the response.
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const CDS_ISS = 'https://ehr.audit.example';

describe('audit trail gaps', () => {
  let s: TestService;
  let cdsKey: CryptoKey;
  let subjectId: string;
  beforeAll(async () => {
    const pair = await generateKeyPair('ES384', { extractable: true });
    cdsKey = pair.privateKey as CryptoKey;
    const jwk = (await exportJWK(pair.publicKey)) as JWK;
    s = await startTestService({
      CDS_CLIENTS: JSON.stringify([{ iss: CDS_ISS, jwks: { keys: [{ ...jwk, kid: 'ehr-a', alg: 'ES384' }] } }]),
    });
    subjectId = await enroll(s, 'ag-1', { arm: 'low-dose', start: '2022-01-10' });
  });
  afterAll(async () => {
    await s.stop();
  });

  /** AuditEvents whose recorded request path starts so, read straight from the store. */
  const eventsFor = async (path: string): Promise<AuditEvent[]> => {
    const r = await s.testDb.db.query<{ content: string }>(`SELECT content FROM audit_events`);
    return r.rows
      .map((row) => JSON.parse(row.content) as AuditEvent)
      .filter((e) => JSON.stringify(e).includes(path) || e.entity?.some((x) => x.what?.reference === path));
  };
  const queryOf = (e: AuditEvent | undefined): string | undefined => {
    const q = e?.entity?.find((x) => x.query)?.query;
    return q === undefined ? undefined : Buffer.from(q, 'base64').toString('utf8');
  };

  it('records the clinician API read of a patient’s trial status', async () => {
    const r = await s.call('/app/api/status/ag-1', { role: 'clinician' });
    expect(r.status).toBe(200);
    const [e] = (await eventsFor('Patient/ag-1')).filter((x) => x.subtype?.[0]?.code === 'read');
    expect(e?.action).toBe('R');
    expect(e?.outcome).toBe('0');
    expect(e?.agent?.[0]?.role?.[0]?.text).toBe('clinician');
  });

  it('records /metrics, refused or not', async () => {
    expect((await s.call('/metrics')).status).toBe(200);
    expect((await s.call('/metrics', { role: 'research' })).status).toBe(403);
    const all = (await s.testDb.db.query<{ content: string }>(`SELECT content FROM audit_events`)).rows.map(
      (row) => JSON.parse(row.content) as AuditEvent,
    );
    const events = all.filter((e) => queryOf(e) === '/metrics');
    expect(events.map((e) => e.outcome).sort()).toEqual(['0', '4']);
  });

  it('records POST _search with its type and the query sent in the body', async () => {
    const r = await s.call('/fhir/Observation/_search', {
      method: 'POST',
      role: 'research',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'code=http://loinc.org|29247-4&patient=ag-1',
    });
    expect(r.status).toBe(200);
    const events = (await s.testDb.db.query<{ content: string }>(`SELECT content FROM audit_events`)).rows
      .map((row) => JSON.parse(row.content) as AuditEvent)
      .filter((e) => e.subtype?.[0]?.code === 'search-type' && queryOf(e) !== '/metrics');
    expect(events).toHaveLength(1);
    const e = events[0];
    expect(e?.entity?.[0]?.type?.code).toBe('Observation');
    expect(queryOf(e)).toBe(new URLSearchParams('code=http://loinc.org|29247-4&patient=ag-1').toString());
  });

  it('commits a transaction Bundle’s AuditEvent in the same database transaction as its data', async () => {
    const r = await s.call('/fhir', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'PUT', url: 'Patient/ag-tx' }, resource: { resourceType: 'Patient', id: 'ag-tx' } },
        ],
      }),
    });
    expect(r.status).toBe(200);
    const xmin = async (table: string, where: string) =>
      (
        await s.testDb.db.query<{ x: string; content: string }>(
          `SELECT xmin::text AS x, content FROM ${table} WHERE ${where}`,
        )
      ).rows;
    const [patient] = await xmin('resources', `resource_type = 'Patient' AND id = 'ag-tx'`);
    const audits = (await xmin('audit_events', 'TRUE')).filter(
      (a) => (JSON.parse(a.content) as AuditEvent).subtype?.[0]?.code === 'transaction',
    );
    expect(audits).toHaveLength(1);
    expect(audits[0]?.x).toBe(patient?.x);
  });

  const allEvents = async (): Promise<AuditEvent[]> =>
    (await s.testDb.db.query<{ content: string }>(`SELECT content FROM audit_events ORDER BY recorded`)).rows.map(
      (row) => JSON.parse(row.content) as AuditEvent,
    );
  const byRequest = async (r: Response): Promise<AuditEvent | undefined> => {
    const id = r.headers.get('x-request-id');
    expect(id).toBeTruthy();
    const found = (await allEvents()).filter((e) => e.entity?.some((x) => x.what?.identifier?.value === id));
    expect(found).toHaveLength(1);
    return found[0];
  };
  const queries = (e: AuditEvent | undefined): { type?: string; query: string }[] =>
    (e?.entity ?? [])
      .filter((x) => x.query !== undefined)
      .map((x) => ({
        ...(x.type?.code ? { type: x.type.code } : {}),
        query: Buffer.from(x.query as string, 'base64').toString('utf8'),
      }));
  const refs = (e: AuditEvent | undefined): string[] =>
    (e?.entity ?? []).flatMap((x) => (x.what?.reference ? [x.what.reference] : [])).sort();

  it('names every resource a batch Bundle read, and each search it ran, in an event committed before the answer', async () => {
    const batch = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Patient/ag-1' } },
        { request: { method: 'GET', url: 'ResearchSubject?patient=ag-1' } },
        { request: { method: 'GET', url: 'Patient/never-stored' } },
        { request: { method: 'GET', url: 'AuditEvent?date=ge2020-01-01' } },
      ],
    };
    const r = await s.call('/fhir', { method: 'POST', role: 'research', body: JSON.stringify(batch) });
    expect(r.status).toBe(200);
    const statuses = ((await r.json()) as { entry: { response: { status: string } }[] }).entry.map(
      (x) => x.response.status,
    );
    expect(statuses.map((x) => x.slice(0, 3))).toEqual(['200', '200', '404', '403']);
    const e = await byRequest(r);
    expect(e?.subtype?.[0]?.code).toBe('batch');
    // What was read, and only that: not the absent Patient, nothing of the refused AuditEvent search.
    expect(refs(e)).toEqual(['Patient/ag-1', `ResearchSubject/${subjectId}`]);
    expect(queries(e)).toEqual(
      expect.arrayContaining([
        { type: 'ResearchSubject', query: 'patient=ag-1' },
        { type: 'AuditEvent', query: 'date=ge2020-01-01' },
      ]),
    );
  });

  it('names what an outcome assessor’s batch read, leaving out what masking withheld', async () => {
    const hidden = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
        subject: { reference: 'Patient/ag-1' },
        effectiveDateTime: '2022-02-10T08:00:00+08:00',
        valueQuantity: { value: 12.5, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
      }),
    });
    expect(hidden.status).toBe(201);
    const hiddenRef = (hidden.headers.get('location') ?? '').replace(/^.*\/fhir\//, '').replace(/\/_history\/.*$/, '');
    const r = await s.call('/fhir', {
      method: 'POST',
      role: 'outcome-assessor',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: hiddenRef } },
          { request: { method: 'GET', url: `ResearchSubject/${subjectId}` } },
        ],
      }),
    });
    expect(r.status).toBe(200);
    const e = await byRequest(r);
    expect(refs(e)).toEqual([`ResearchSubject/${subjectId}`]);
  });

  it('records a transaction’s reads in its own event', async () => {
    const r = await s.call('/fhir', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'GET', url: 'Patient/ag-1' } }],
      }),
    });
    expect(r.status).toBe(200);
    const e = await byRequest(r);
    expect(e?.subtype?.[0]?.code).toBe('transaction');
    expect(refs(e)).toEqual(['Patient/ag-1']);
  });

  it('records refused requests (401, 403, 400) as failures with the query they attempted', async () => {
    const cases: {
      path: string;
      role: 'none' | 'research' | 'ehr-feed' | 'outcome-assessor';
      status: number;
      ref?: string;
      type: string;
      query: string;
    }[] = [
      {
        path: '/fhir/Observation?code=http://loinc.org|29247-4',
        role: 'none',
        status: 401,
        type: 'Observation',
        query: 'code=http://loinc.org|29247-4',
      },
      {
        path: '/fhir/AuditEvent?date=ge2020-01-01',
        role: 'research',
        status: 403,
        type: 'AuditEvent',
        query: 'date=ge2020-01-01',
      },
      {
        path: '/fhir/Observation?value-quantity=gt10',
        role: 'outcome-assessor',
        status: 403,
        type: 'Observation',
        query: 'value-quantity=gt10',
      },
      {
        path: '/fhir/Observation?date=not-a-date',
        role: 'research',
        status: 400,
        type: 'Observation',
        query: 'date=not-a-date',
      },
      // Instance level: the resource named and the query sent with it.
      {
        path: '/fhir/Patient/ag-1/$everything?_count=5',
        role: 'ehr-feed',
        status: 403,
        ref: 'Patient/ag-1',
        type: 'Patient',
        query: '_count=5',
      },
      {
        path: '/fhir/Patient/ag-1/_history?_since=2020-01-01',
        role: 'ehr-feed',
        status: 403,
        ref: 'Patient/ag-1',
        type: 'Patient',
        query: '_since=2020-01-01',
      },
      {
        path: '/fhir/AuditEvent/some-id',
        role: 'research',
        status: 403,
        ref: 'AuditEvent/some-id',
        type: 'AuditEvent',
        query: '',
      },
    ];
    for (const c of cases) {
      const r = await s.call(c.path, { role: c.role });
      expect(r.status, c.path).toBe(c.status);
      const e = await byRequest(r);
      expect(e?.outcome, c.path).toBe('4');
      expect(e?.outcomeDesc, c.path).toBeTruthy();
      if (c.ref) expect(refs(e), c.path).toEqual([c.ref]);
      if (c.query) expect(queries(e), c.path).toEqual([{ type: c.type, query: c.query }]);
      else expect(e?.entity?.[0]?.type?.code, c.path).toBe(c.type);
      if (c.role === 'none') expect(e?.agent?.[0]?.who?.display).toBe('unauthenticated client');
      else expect(e?.agent?.[0]?.role?.[0]?.text, c.path).toBe(c.role);
    }
  });

  it('records a POST _search refused to a blinded caller with the query of its body', async () => {
    const r = await s.call('/fhir/Observation/_search', {
      method: 'POST',
      role: 'outcome-assessor',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'value-quantity=gt10',
    });
    expect(r.status).toBe(403);
    const e = await byRequest(r);
    expect(e?.outcome).toBe('4');
    expect(queries(e)).toEqual([{ type: 'Observation', query: 'value-quantity=gt10' }]);

    // Without a token: refused before the FHIR router reads the body, recorded with it all the same.
    const anonymous = await s.call('/fhir/Observation/_search?_count=2', {
      method: 'POST',
      role: 'none',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'patient=ag-1',
    });
    expect(anonymous.status).toBe(401);
    const a = await byRequest(anonymous);
    expect(a?.outcome).toBe('4');
    expect(queries(a)).toEqual([{ type: 'Observation', query: '_count=2&patient=ag-1' }]);
  });

  it('reads at most 1 MiB of a search form before authentication (413, nothing searched)', async () => {
    const body = `patient=${'x'.repeat(1024 * 1024 + 10)}`;
    const anonymous = await s.call('/fhir/Observation/_search', {
      method: 'POST',
      role: 'none',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(anonymous.status).toBe(413);
    const outcome = (await anonymous.json()) as { resourceType: string };
    expect(outcome.resourceType).toBe('OperationOutcome');
    const health = await s.call('/healthz', { role: 'none' });
    expect(health.status).toBe(200);
  });

  it('records a CDS Hooks call with the calling EHR (iss, sub), the hook’s user and the patient', async () => {
    const aud = `${s.service.config.publicBaseUrl}/cds-services/trial-status`;
    const token = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES384', kid: 'ehr-a' })
      .setIssuer(CDS_ISS)
      .setSubject('ehr-cds-client-7')
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(cdsKey);
    const body = {
      hook: 'patient-view',
      hookInstance: randomUUID(),
      context: { patientId: 'ag-1', userId: 'Practitioner/dr-audit' },
    };
    const r = await fetch(`${s.url}/cds-services/trial-status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    expect(r.status).toBe(200);
    const e = await byRequest(r);
    expect(e?.outcome).toBe('0');
    expect(refs(e)).toEqual(['Patient/ag-1']);
    const client = e?.agent?.find((a) => a.requestor && a.who?.identifier?.value === CDS_ISS);
    expect(client?.altId).toBe('ehr-cds-client-7');
    const user = e?.agent?.find((a) => a.who?.identifier?.value === 'Practitioner/dr-audit');
    expect(user?.requestor).toBe(true);

    // Refused (no token): still recorded, as a failure, with the patient it asked about.
    const refused = await fetch(`${s.url}/cds-services/trial-status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, hookInstance: randomUUID() }),
    });
    expect(refused.status).toBe(401);
    const f = await byRequest(refused);
    expect(f?.outcome).toBe('4');
    expect(refs(f)).toEqual(['Patient/ag-1']);
  });
});
