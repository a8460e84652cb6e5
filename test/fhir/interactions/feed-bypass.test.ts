// Fixtures WRITTEN FOR THE TESTS (invented children and results).
// Issue 17: the ingest gate cannot be bypassed with a stored Bundle, and a write-only feed cannot
// search by conditional writes.
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../support/enroll.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const j = JSON.stringify;
const trough = (patient: string, value: number, id: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  identifier: [{ system: 'urn:oid:1.2.3.4', value: id }],
  code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
});

describe('the feed cannot bypass the gate or search by writing', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    await enroll(s, 'fb-1', { arm: 'low-dose', start: '2022-01-10' });
    const r = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: j(trough('fb-1', 12, 'fb-a')),
    });
    expect(r.status).toBe(201);
  });
  afterAll(async () => {
    await s.stop();
  });

  it('refuses ehr-feed storing a Bundle resource (a collection of a non-enrolled patient’s result)', async () => {
    const collection: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: trough('not-enrolled-fb', 9, 'fb-b') }],
    };
    const post = await s.call('/fhir/Bundle', { method: 'POST', role: 'ehr-feed', body: j(collection) });
    expect(post.status).toBe(403);
    const put = await s.call('/fhir/Bundle/fb-bundle', {
      method: 'PUT',
      role: 'ehr-feed',
      body: j({ ...collection, id: 'fb-bundle' }),
    });
    expect(put.status).toBe(403);
    const found = (await (await s.call('/fhir/Bundle', { role: 'research' })).json()) as Bundle;
    expect(found.total ?? found.entry?.length ?? 0).toBe(0);
  });

  it('lets ehr-feed match a conditional update or create on identifier only (no 412/200 oracle)', async () => {
    for (const criteria of [
      'code=http://loinc.org|29247-4&value-quantity=sa10',
      'patient=fb-1',
      'identifier:missing=false',
    ]) {
      const put = await s.call(`/fhir/Observation?${criteria}`, {
        method: 'PUT',
        role: 'ehr-feed',
        body: j(trough('fb-1', 7, 'fb-c')),
      });
      expect(put.status, criteria).toBe(403);
      const create = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        headers: { 'if-none-exist': criteria },
        body: j(trough('fb-1', 7, 'fb-d')),
      });
      expect(create.status, `If-None-Exist ${criteria}`).toBe(403);
      const tx = await s.call('/fhir', {
        method: 'POST',
        role: 'ehr-feed',
        body: j({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ request: { method: 'PUT', url: `Observation?${criteria}` }, resource: trough('fb-1', 7, 'fb-e') }],
        }),
      });
      expect(tx.status, `transaction ${criteria}`).toBe(403);
    }
    // The feed's own business identifier still works: a re-delivery updates in place.
    const same = await s.call(`/fhir/Observation?identifier=${encodeURIComponent('urn:oid:1.2.3.4|fb-a')}`, {
      method: 'PUT',
      role: 'ehr-feed',
      body: j(trough('fb-1', 13, 'fb-a')),
    });
    expect(same.status).toBe(200);
    // An admin, who may search, keeps full conditional criteria.
    const admin = await s.call(
      `/fhir/Observation?patient=fb-1&identifier=${encodeURIComponent('urn:oid:1.2.3.4|fb-a')}`,
      {
        method: 'PUT',
        body: j(trough('fb-1', 13, 'fb-a')),
      },
    );
    expect(admin.status).toBeLessThan(300);
  });
});
