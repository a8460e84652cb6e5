// Fixtures WRITTEN FOR THE TESTS (invented child and results).
// Issue 17: derived data (trial records, outcomes, Provenance, MeasureReports, Flags, suggested
// AdverseEvents, Groups) is the service's alone, whatever role, id or route a client uses.
import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../../src/auth/access-context.ts';
import { enroll } from '../../support/enroll.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const j = JSON.stringify;
const ROLES: Role[] = ['ehr-feed', 'research', 'outcome-assessor', 'clinician', 'admin'];
const RECORD_KIND = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind';

const trough = (patient: string, value: number, date: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  identifier: [{ system: 'urn:oid:1.2.3.4', value: `dw-${patient}-${date}` }],
  code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: date,
  valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
});

const platelets = (patient: string, value: number, date: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: date,
  valueQuantity: { value, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
});

interface Derived {
  kind: string;
  type: string;
  id: string;
  version: number;
  content: string;
}

describe('derived data is written by the service only', () => {
  let s: TestService;
  const derived: Derived[] = [];

  const stored = async (type: string, id: string): Promise<{ version: number; content: string }> => {
    const r = await s.testDb.db.query<{ version_id: number; content: string }>(
      'SELECT version_id, content FROM resources WHERE resource_type = $1 AND id = $2',
      [type, id],
    );
    const row = r.rows[0];
    if (!row) throw new Error(`${type}/${id} not stored`);
    return { version: row.version_id, content: row.content };
  };

  const one = async (kind: string, type: string, where: string): Promise<void> => {
    const r = await s.testDb.db.query<{ id: string; version_id: number; content: string }>(
      `SELECT id, version_id, content FROM resources WHERE resource_type = $1 AND NOT deleted AND ${where} ORDER BY id LIMIT 1`,
      [type],
    );
    const row = r.rows[0];
    if (!row) throw new Error(`no ${kind} was derived`);
    derived.push({ kind, type, id: row.id, version: row.version_id, content: row.content });
  };

  beforeAll(async () => {
    s = await startTestService({ OUTCOMES_WORKER: 'off' });
    await enroll(s, 'dw-1', { birthDate: '2020-01-01', arm: 'low-dose', start: '2022-01-10' });
    for (const [value, date] of [
      [14, '2022-02-10T08:00:00+08:00'],
      [12, '2022-03-10T08:00:00+08:00'],
    ] as const) {
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: j(trough('dw-1', value, date)),
      });
      expect(r.status).toBe(201);
    }
    const p = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: j(platelets('dw-1', 20, '2022-02-10T08:00:00+08:00')),
    });
    expect(p.status).toBe(201);
    await s.service.outcomes.drain();
    await s.call('/fhir/Group?_count=1'); // the study Groups are derived when first read
    await one('trial record', 'Observation', "id LIKE 'tr-%'");
    await one('outcome', 'Observation', "id LIKE 'oc-%'");
    await one('Provenance', 'Provenance', 'true');
    await one('MeasureReport', 'MeasureReport', 'true');
    await one('Flag', 'Flag', 'true');
    await one('suggested AdverseEvent', 'AdverseEvent', "id LIKE 'aes-%'");
    await one('Group', 'Group', 'true');
  }, 60_000);
  afterAll(async () => {
    await s.stop();
  });

  /** The stored copy with its value changed and the service's tag and labels stripped: a forgery. */
  const forged = (d: Derived): Resource => {
    const r = JSON.parse(d.content) as Resource & { status?: string };
    const { meta: _m, ...rest } = r;
    return { ...rest, ...(d.type === 'Observation' ? { valueQuantity: { value: 1 } } : {}) } as Resource;
  };

  const unchanged = async (d: Derived): Promise<void> => {
    const now = await stored(d.type, d.id);
    expect(now.version, `${d.kind} ${d.type}/${d.id} was written`).toBe(d.version);
    expect(now.content).toBe(d.content);
  };

  it('refuses PUT, PATCH and DELETE of every kind of derived resource, by every role (403)', async () => {
    for (const d of derived) {
      for (const role of ROLES) {
        const put = await s.call(`/fhir/${d.type}/${d.id}`, { method: 'PUT', role, body: j(forged(d)) });
        expect(put.status, `PUT ${d.kind} as ${role}`).toBe(403);
        expect(((await put.json()) as Resource).resourceType).toBe('OperationOutcome');
        const patch = await s.call(`/fhir/${d.type}/${d.id}`, {
          method: 'PATCH',
          role,
          headers: { 'content-type': 'application/json-patch+json' },
          body: j([{ op: 'remove', path: '/meta' }]),
        });
        expect(patch.status, `PATCH ${d.kind} as ${role}`).toBe(403);
        const del = await s.call(`/fhir/${d.type}/${d.id}`, { method: 'DELETE', role });
        expect(del.status, `DELETE ${d.kind} as ${role}`).toBe(403);
      }
      await unchanged(d);
    }
  });

  it('refuses a derived id not yet taken, and a create carrying the service tag or of a service-only type', async () => {
    for (const role of ROLES) {
      const free = await s.call('/fhir/Observation/oc-not-yet-derived', {
        method: 'PUT',
        role,
        body: j({ ...trough('dw-1', 7, '2022-02-11T08:00:00+08:00'), id: 'oc-not-yet-derived' }),
      });
      expect(free.status, `PUT a free oc- id as ${role}`).toBe(403);
      const tagged = await s.call('/fhir/Observation', {
        method: 'POST',
        role,
        body: j({
          ...trough('dw-1', 7, '2022-02-12T08:00:00+08:00'),
          meta: { tag: [{ system: RECORD_KIND, code: 'outcome' }] },
        }),
      });
      expect(tagged.status, `POST a tagged Observation as ${role}`).toBe(403);
      for (const d of derived.filter((x) => x.type !== 'Observation' && x.type !== 'AdverseEvent')) {
        const { id: _id, ...body } = forged(d);
        const created = await s.call(`/fhir/${d.type}`, { method: 'POST', role, body: j(body) });
        expect(created.status, `POST ${d.type} as ${role}`).toBe(403);
      }
    }
    const r = await s.testDb.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM resources WHERE id = 'oc-not-yet-derived' OR content LIKE '%2022-02-12T08:00%'`,
    );
    expect(r.rows[0]?.n).toBe('0');
  });

  it('refuses conditional updates that match a derived resource, and re-deliveries by its identifier', async () => {
    const outcome = derived.find((d) => d.kind === 'outcome') as Derived;
    const identifier = (JSON.parse(outcome.content) as Observation).identifier?.[0];
    const criteria = `identifier=${encodeURIComponent(`${identifier?.system}|${identifier?.value}`)}`;
    for (const role of ['ehr-feed', 'admin'] as const) {
      const body = { ...forged(outcome), id: undefined };
      const cond = await s.call(`/fhir/Observation?${criteria}`, { method: 'PUT', role, body: j(body) });
      expect(cond.status, `conditional PUT as ${role}`).toBe(403);
    }
    // The feed's re-delivery of a result by identifier becomes an update of what is stored.
    const { id: _id, ...redelivery } = forged(outcome);
    const post = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: j({ ...redelivery, subject: { reference: 'Patient/dw-1' } }),
    });
    expect(post.status).toBe(403);
    await unchanged(outcome);
  });

  it('refuses derived writes inside batch and transaction Bundles', async () => {
    for (const role of ['ehr-feed', 'admin'] as const) {
      for (const d of derived) {
        const entry = { request: { method: 'PUT', url: `${d.type}/${d.id}` }, resource: forged(d) };
        const batch = await s.call('/fhir', {
          method: 'POST',
          role,
          body: j({ resourceType: 'Bundle', type: 'batch', entry: [entry] }),
        });
        expect(batch.status).toBe(200);
        const b = (await batch.json()) as Bundle;
        expect(b.entry?.[0]?.response?.status, `batch PUT ${d.kind} as ${role}`).toMatch(/^403/);
        const tx = await s.call('/fhir', {
          method: 'POST',
          role,
          body: j({ resourceType: 'Bundle', type: 'transaction', entry: [entry] }),
        });
        expect(tx.status, `transaction PUT ${d.kind} as ${role}`).toBe(403);
        const del = await s.call('/fhir', {
          method: 'POST',
          role: 'admin',
          body: j({
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [{ request: { method: 'DELETE', url: `${d.type}/${d.id}` } }],
          }),
        });
        expect(del.status, `transaction DELETE ${d.kind}`).toBe(403);
        await unchanged(d);
      }
    }
  });

  it('still lets a client write its own results, and the service keep deriving', async () => {
    const r = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: j(trough('dw-1', 8, '2022-04-10T08:00:00+08:00')),
    });
    expect(r.status).toBe(201);
    const report = await s.service.outcomes.drain();
    expect(report.subjects).toBe(1);
  });
});
