// Fixtures WRITTEN FOR THE TESTS (invented child).
// Issue 17: every access to trial data leaves an AuditEvent committed before the response.
import type { AuditEvent } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

describe('audit trail gaps', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    await enroll(s, 'ag-1', { arm: 'low-dose', start: '2022-01-10' });
  });
  afterAll(async () => {
    await s.stop();
  });

  /** AuditEvents whose recorded request path starts so, read straight from the store. */
  const eventsFor = async (path: string): Promise<AuditEvent[]> => {
    const r = await s.testDb.db.query<{ content: string }>(
      `SELECT content FROM resources WHERE resource_type = 'AuditEvent'`,
    );
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
    const all = (
      await s.testDb.db.query<{ content: string }>(`SELECT content FROM resources WHERE resource_type = 'AuditEvent'`)
    ).rows.map((row) => JSON.parse(row.content) as AuditEvent);
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
    const events = (
      await s.testDb.db.query<{ content: string }>(`SELECT content FROM resources WHERE resource_type = 'AuditEvent'`)
    ).rows
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
    const xmin = async (where: string) =>
      (
        await s.testDb.db.query<{ x: string; content: string }>(
          `SELECT xmin::text AS x, content FROM resources WHERE ${where} ORDER BY created_seq DESC`,
        )
      ).rows;
    const [patient] = await xmin(`resource_type = 'Patient' AND id = 'ag-tx'`);
    const audits = (await xmin(`resource_type = 'AuditEvent'`)).filter(
      (a) => (JSON.parse(a.content) as AuditEvent).subtype?.[0]?.code === 'transaction',
    );
    expect(audits).toHaveLength(1);
    expect(audits[0]?.x).toBe(patient?.x);
  });
});
