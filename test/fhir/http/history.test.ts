// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
import type { Bundle, CapabilityStatement, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedObservations } from '../../support/bulk-seed.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const json = (r: unknown) => JSON.stringify(r);
const lab = (code: string, value: number): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: 'Patient/h-1' },
  effectiveDateTime: '2022-02-09T08:00:00+08:00',
  valueQuantity: { value, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
});

describe('type- and system-level history', () => {
  let s: TestService;
  let startedAt: string;
  let afterUpdate: string;
  beforeAll(async () => {
    s = await startTestService();
    startedAt = new Date().toISOString();
    await s.call('/fhir/Observation/h-a', { method: 'PUT', body: json({ ...lab('777-3', 90), id: 'h-a' }) });
    await s.call('/fhir/Observation/h-a', { method: 'PUT', body: json({ ...lab('777-3', 95), id: 'h-a' }) });
    await new Promise((r) => setTimeout(r, 5));
    afterUpdate = new Date().toISOString();
    await s.call('/fhir/Observation/h-b', { method: 'PUT', body: json({ ...lab('777-3', 80), id: 'h-b' }) });
    await s.call('/fhir/Observation/h-b', { method: 'DELETE' });
    await s.call('/fhir/Patient/h-1', { method: 'PUT', body: json({ resourceType: 'Patient', id: 'h-1' }) });
    // A sirolimus level: arm-revealing, so an outcome assessor never sees it.
    await s.call('/fhir/Observation/h-c', {
      method: 'PUT',
      body: json({ ...lab('29247-4', 7), id: 'h-c', valueQuantity: { value: 7, unit: 'ng/mL', code: 'ng/mL' } }),
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  const history = async (path: string, role: 'admin' | 'outcome-assessor' | 'ehr-feed' = 'admin') => {
    const res = await s.call(path, { role });
    expect(res.status, path).toBe(200);
    return (await res.json()) as Bundle;
  };
  const summary = (b: Bundle) =>
    b.entry?.map((e) => `${e.request?.method} ${e.fullUrl?.split('/fhir/')[1]} ${e.response?.etag ?? ''}`) ?? [];

  it('lists every version of a type newest first, deletions included', async () => {
    const b = await history('/fhir/Observation/_history');
    expect(b.type).toBe('history');
    expect(summary(b)).toEqual([
      'PUT Observation/h-c W/"1"',
      'DELETE Observation/h-b W/"2"',
      'PUT Observation/h-b W/"1"',
      'PUT Observation/h-a W/"2"',
      'PUT Observation/h-a W/"1"',
    ]);
    expect(b.entry?.[1]?.resource).toBeUndefined();
    expect((b.entry?.[3]?.resource as Observation | undefined)?.valueQuantity?.value).toBe(95);
    expect(summary(await history(`/fhir/Observation/_history?_since=${afterUpdate}`))).toHaveLength(3);
  });

  it('pages by cursor without losing or repeating a version', async () => {
    const seen: string[] = [];
    let path: string | undefined = '/fhir/Observation/_history?_count=2';
    let pages = 0;
    while (path) {
      const b = await history(path);
      seen.push(...summary(b));
      pages++;
      const next = b.link?.find((l) => l.relation === 'next')?.url;
      path = next ? next.slice(s.url.length) : undefined;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(summary(await history('/fhir/Observation/_history')));
  });

  it('pages through versions sharing one timestamp without losing or repeating one, type and system level', async () => {
    // 7 Observations written in one statement: one last_updated for all, a tie the keyset breaks by id.
    await seedObservations(s.testDb.db, { prefix: 'tie', count: 7, patients: 1 });
    for (const base of ['/fhir/Observation/_history', '/fhir/_history']) {
      const seen: string[] = [];
      let path: string | undefined = `${base}?_count=2`;
      while (path) {
        const b = await history(path);
        seen.push(...summary(b));
        const next = b.link?.find((l) => l.relation === 'next')?.url;
        path = next ? next.slice(s.url.length) : undefined;
      }
      const ties = seen.filter((e) => e.includes('/tie-'));
      expect(ties).toHaveLength(7);
      expect(new Set(seen).size).toBe(seen.length);
      expect(ties).toEqual([...ties].sort().reverse());
    }
  });

  it('lists the system history across the types the caller may read', async () => {
    const all = summary(await history(`/fhir/_history?_since=${startedAt}&_count=100`));
    expect(all).toContain('PUT Patient/h-1 W/"1"');
    expect(all).toContain('DELETE Observation/h-b W/"2"');
    // The audit trail is kept apart from clinical data (issue 22): searched, never in _history.
    expect(all.filter((e) => e.includes(' AuditEvent/'))).toEqual([]);
    // An outcome assessor reads no Patient and never sees a sirolimus level.
    const blinded = summary(await history(`/fhir/_history?_since=${startedAt}&_count=100`, 'outcome-assessor'));
    expect(blinded.some((e) => e.includes('Patient/'))).toBe(false);
    expect(blinded.some((e) => e.includes('Observation/h-c'))).toBe(false);
    expect(blinded).toContain('PUT Observation/h-a W/"2"');
    expect(summary(await history('/fhir/Observation/_history', 'outcome-assessor'))).not.toContain(
      'PUT Observation/h-c W/"1"',
    );
  });

  it('answers bad input and forbidden callers with an OperationOutcome', async () => {
    for (const [path, status] of [
      ['/fhir/Observation/_history?_count=-1', 400],
      ['/fhir/Observation/_history?_since=yesterday', 400],
      ['/fhir/Observation/_history?_cursor=bogus', 400],
      [
        `/fhir/Observation/_history?_cursor=${Buffer.from(json({ at: "x'; drop", type: 'A', id: 'b', version: 1 })).toString('base64url')}`,
        400,
      ],
      ['/fhir/Unicorn/_history', 404],
    ] as const) {
      const res = await s.call(path);
      expect(res.status, path).toBe(status);
      expect(((await res.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    }
    expect((await s.call('/fhir/_history', { method: 'DELETE' })).status).toBe(405);
    expect((await s.call('/fhir/Patient/_history', { role: 'ehr-feed' })).status).toBe(403);
    const cs = (await (await s.call('/fhir/metadata', { role: 'none' })).json()) as CapabilityStatement;
    expect(cs.rest?.[0]?.interaction?.map((i) => i.code)).toContain('history-system');
    expect(cs.rest?.[0]?.resource?.find((r) => r.type === 'Observation')?.interaction?.map((i) => i.code)).toContain(
      'history-type',
    );
    expect(cs.patchFormat).toEqual(['application/json-patch+json']);
  });
});
