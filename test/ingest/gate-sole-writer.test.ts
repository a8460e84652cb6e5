import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/app/start.ts';
import type { Db } from '../../src/store/db.ts';
import { type SecondInstance, startSecondInstance } from '../support/second-instance.ts';
import { openTestDb, testBackend } from '../support/test-db.ts';
import { fetchToken, readDevClients, startTestService, type TestService } from '../support/test-service.ts';

const SYSTEM = 'urn:oid:1.2.156.112606.1.2.1';
let lab = 0;

const result = (patient: string, identifier = `SW-${++lab}`) => ({
  resourceType: 'Observation',
  identifier: [{ system: SYSTEM, value: identifier }],
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  valueQuantity: { value: 88, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
});

const subject = (patient: string, status = 'on-study') => ({
  resourceType: 'ResearchSubject',
  status,
  study: { reference: 'ResearchStudy/nct04775173' },
  individual: { reference: `Patient/${patient}` },
  assignedArm: 'low-dose',
  period: { start: '2022-01-10' },
});

/** The store with its statements counted (query, exec and transactions), its capabilities kept. */
function counting(db: Db): { db: Db; statements: () => number } {
  let n = 0;
  const counted = new Proxy(db, {
    get(target, prop) {
      if (prop === 'query' || prop === 'exec' || prop === 'transaction') {
        const f = Reflect.get(target, prop, target) as (...a: unknown[]) => unknown;
        return (...args: unknown[]) => {
          n++;
          return f.apply(target, args);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { db: counted, statements: () => n };
}

describe(`the gate on a store this process alone writes, or not (${testBackend()})`, () => {
  let s: TestService;
  let statements: () => number;
  beforeAll(async () => {
    const t = await openTestDb();
    const c = counting(t.db);
    statements = c.statements;
    s = await startTestService({}, { testDb: { ...t, db: c.db } });
    await s.token('ehr-feed');
  });
  afterAll(async () => {
    await s.stop();
  });

  const push = async (body: unknown): Promise<number> =>
    (await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(body) })).status;
  /**
   * After an enrollment ended. PGlite checks its in-process version before every decision: nothing
   * to do. PostgreSQL reads the store's version only before turning a result away (a result the
   * index keeps costs no read, src/ingest/intake.ts): one turned away first.
   */
  const afterEnd = async (): Promise<void> => {
    if (testBackend() === 'postgresql') expect(await push(result('nobody-else'))).toBe(202);
  };

  it('turns a result away without a statement on PGlite; PostgreSQL still reads the store', async () => {
    expect(await push(result('nobody-1'))).toBe(202);
    const before = statements();
    expect(await push(result('nobody-2'))).toBe(202);
    expect(await push(result('nobody-3'))).toBe(202);
    const used = statements() - before;
    if (testBackend() === 'pglite') {
      expect(s.testDb.db.soleWriter).toBeDefined();
      expect(used).toBe(0);
    } else {
      expect(s.testDb.db.soleWriter).toBeUndefined();
      expect(used).toBeGreaterThanOrEqual(2);
    }
  });

  it('sees an enrollment by POST at the very next result, and its end by PUT and by DELETE', async () => {
    expect(await push(result('p-post'))).toBe(202);
    const created = await s.call('/fhir/ResearchSubject', { method: 'POST', body: JSON.stringify(subject('p-post')) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    expect(await push(result('p-post'))).toBe(201);
    const ended = await s.call(`/fhir/ResearchSubject/${id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...subject('p-post', 'ineligible'), id }),
    });
    expect(ended.status).toBe(200);
    await afterEnd();
    expect(await push(result('p-post'))).toBe(202);
    const again = await s.call(`/fhir/ResearchSubject/${id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...subject('p-post'), id }),
    });
    expect(again.status).toBe(200);
    expect(await push(result('p-post'))).toBe(201);
    expect((await s.call(`/fhir/ResearchSubject/${id}`, { method: 'DELETE' })).status).toBe(204);
    await afterEnd();
    expect(await push(result('p-post'))).toBe(202);
  });

  it('sees an enrollment made in a transaction and in a batch Bundle, and not one rolled back', async () => {
    for (const type of ['transaction', 'batch'] as const) {
      const patient = `p-${type}`;
      expect(await push(result(patient))).toBe(202);
      const res = await s.call('/fhir', {
        method: 'POST',
        body: JSON.stringify({
          resourceType: 'Bundle',
          type,
          entry: [{ resource: subject(patient), request: { method: 'POST', url: 'ResearchSubject' } }],
        }),
      });
      expect(res.status).toBe(200);
      expect(await push(result(patient))).toBe(201);
    }
    // A transaction whose second entry fails: its enrollment never happened.
    expect(await push(result('p-rolled-back'))).toBe(202);
    const failed = await s.call('/fhir', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: subject('p-rolled-back'), request: { method: 'POST', url: 'ResearchSubject' } },
          { request: { method: 'DELETE', url: 'ResearchSubject/does-not-exist' } },
          { resource: { resourceType: 'Patient', id: 'x' }, request: { method: 'PUT', url: 'Patient/y' } },
        ],
      }),
    });
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(await push(result('p-rolled-back'))).toBe(202);
  });

  it('withdraws a stored result re-delivered for a patient no longer enrolled (its identifier is known stored)', async () => {
    const created = await s.call('/fhir/ResearchSubject', { method: 'POST', body: JSON.stringify(subject('p-moved')) });
    const id = ((await created.json()) as { id: string }).id;
    expect(await push(result('p-moved', 'SW-MOVED'))).toBe(201);
    await s.call(`/fhir/ResearchSubject/${id}`, { method: 'DELETE' });
    await afterEnd();
    const moved = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: JSON.stringify(result('p-moved', 'SW-MOVED')),
    });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as { id: string }).id).toBe('withdrawn');
  });
});

describe(`two instances on one store: an enrollment through one is seen by the other (${testBackend()})`, () => {
  let a: TestService;
  let second: SecondInstance;
  let b: RunningService;
  beforeAll(async () => {
    a = await startTestService();
    second = await startSecondInstance(a, { OUTCOMES_WORKER: 'off' });
    b = second.service;
  });
  afterAll(async () => {
    await second.stop();
    await a.stop();
  });

  it('routes the next result on A for a subject enrolled through B', async () => {
    const push = async (): Promise<number> =>
      (await a.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(result('p-b')) }))
        .status;
    expect(await push()).toBe(202);
    const admin = readDevClients(second.dataDir).find((c) => c.role === 'admin');
    if (!admin) throw new Error('no admin client on B');
    const token = await fetchToken(b.url, admin);
    const res = await fetch(`${b.url}/fhir/ResearchSubject`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(subject('p-b')),
    });
    expect(res.status).toBe(201);
    expect(await push()).toBe(201);
  });
});
