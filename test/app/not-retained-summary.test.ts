// Fixtures WRITTEN FOR THE TESTS (invented children).
// Issue 22: a single write the trial does not keep leaves no AuditEvent of its own; it is counted per
// client and reason in one summary AuditEvent per interval. Every other request keeps its own.
import { randomUUID } from 'node:crypto';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditSummary } from '../../src/app/audit-summary.ts';
import { AuditWriter } from '../../src/app/audit-trail.ts';
import { startService } from '../../src/app/start.ts';
import { AUDIT_SUBTYPE_SYSTEM, NOT_RETAINED_SUMMARY } from '../../src/auth/audit-event.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { enroll } from '../support/enroll.ts';
import { fetchToken, readDevClients, startTestService, type TestService } from '../support/test-service.ts';

const ENV = { AUDIT_SUMMARY_INTERVAL_SECONDS: '3600' };
const SUMMARIES = `subtype=${encodeURIComponent(`${AUDIT_SUBTYPE_SYSTEM}|${NOT_RETAINED_SUMMARY}`)}`;

const result = (patient: string, code = '777-3') =>
  JSON.stringify({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: '2022-02-10T08:00:00+08:00',
    valueQuantity: { value: 88, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
  });

/** AuditEvents found by an admin search of the FHIR API (which itself leaves one). */
async function searchAudit(call: TestService['call'], query: string): Promise<AuditEvent[]> {
  const r = await call(`/fhir/AuditEvent?_count=1000&${query}`);
  expect(r.status).toBe(200);
  return ((await r.json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
}

const requestIdOf = (e: AuditEvent): string | undefined =>
  e.entity?.find((x) => x.type?.code === 'XrequestId')?.what?.identifier?.value;

const countsOf = (e: AuditEvent | undefined): Record<string, number> =>
  Object.fromEntries((e?.entity?.[0]?.detail ?? []).map((d) => [d.type, Number(d.valueString)]));

const clientOf = (e: AuditEvent): string | undefined => e.agent?.[0]?.who?.identifier?.value;

describe('writes not retained: counted in a summary AuditEvent', () => {
  let s: TestService;
  let feedClient: string;
  const post = (path: string, body: string, reqId: string) =>
    s.call(path, { method: 'POST', role: 'ehr-feed', body, headers: { 'x-request-id': reqId } });
  const withRequestIds = async (ids: readonly string[]): Promise<AuditEvent[]> =>
    (await searchAudit(s.call, 'date=ge2000-01-01')).filter((e) => ids.includes(requestIdOf(e) ?? ''));

  beforeAll(async () => {
    s = await startTestService(ENV);
    await enroll(s, 'ns-in', { arm: 'low-dose', start: '2022-01-10' });
    feedClient = readDevClients(s.dataDir).find((c) => c.role === 'ehr-feed')?.clientId as string;
  });
  afterAll(async () => {
    await s.stop();
  });

  it('leaves no AuditEvent per request for a result not kept, and counts it in the summary', async () => {
    await s.service.auditSummary.flush();
    const before = await searchAudit(s.call, SUMMARIES);
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids.slice(0, 3)) expect((await post('/fhir/Observation', result('ns-out'), id)).status).toBe(202);
    // An enrolled child's result in a code no measure uses: not kept either.
    expect((await post('/fhir/Observation', result('ns-in', '718-7'), ids[3] as string)).status).toBe(202);
    expect(await withRequestIds(ids)).toEqual([]);
    expect(s.service.auditSummary.pending()).toEqual({ [feedClient]: { 'not-enrolled': 3, 'not-relevant': 1 } });

    const metrics = await (await s.call('/metrics')).text();
    expect(metrics).toContain(`khe_not_retained_writes_total{client="${feedClient}",reason="not-enrolled"} 3`);
    expect(metrics).toContain(`khe_not_retained_writes_total{client="${feedClient}",reason="not-relevant"} 1`);

    await s.service.auditSummary.flush();
    expect(s.service.auditSummary.pending()).toEqual({});
    const added = (await searchAudit(s.call, SUMMARIES)).filter((e) => !before.some((b) => b.id === e.id));
    expect(added).toHaveLength(1);
    const summary = added[0] as AuditEvent;
    expect(clientOf(summary)).toBe(feedClient);
    expect(summary.agent?.[0]?.role?.[0]?.text).toBe('ehr-feed');
    expect(summary.action).toBe('C');
    expect(summary.outcome).toBe('0');
    expect(countsOf(summary)).toEqual({ 'not-enrolled': 3, 'not-relevant': 1 });
    expect(Date.parse(summary.period?.start as string)).toBeLessThanOrEqual(Date.parse(summary.period?.end as string));
    // Nothing about the patient sent is in it.
    expect(JSON.stringify(summary)).not.toContain('ns-out');
    // An interval without such writes writes nothing.
    await s.service.auditSummary.flush();
    expect((await searchAudit(s.call, SUMMARIES)).length).toBe(before.length + 1);
  });

  it('still records every kept or refused write, every read and every Bundle on its own', async () => {
    await s.service.auditSummary.flush();
    const kept = randomUUID();
    const created = await post('/fhir/Observation', result('ns-in'), kept);
    expect(created.status).toBe(201);
    const location = created.headers.get('location') as string;
    const refused = randomUUID();
    // An enrolled child's measure without a status: refused by validation.
    const invalid = JSON.stringify({ ...JSON.parse(result('ns-in')), status: undefined });
    expect((await post('/fhir/Observation', invalid, refused)).status).toBeGreaterThanOrEqual(400);
    const bundle = randomUUID();
    const batch = JSON.stringify({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ resource: JSON.parse(result('ns-out')), request: { method: 'POST', url: 'Observation' } }],
    });
    expect((await post('/fhir', batch, bundle)).status).toBe(200);
    const read = randomUUID();
    const path = new URL(location).pathname.replace(/\/_history\/\d+$/, '');
    expect((await s.call(path, { headers: { 'x-request-id': read } })).status).toBe(200);
    const search = randomUUID();
    expect((await s.call('/fhir/Observation?patient=ns-out', { headers: { 'x-request-id': search } })).status).toBe(
      200,
    );

    const events = await withRequestIds([kept, refused, bundle, read, search]);
    const outcome = (id: string) => events.filter((e) => requestIdOf(e) === id).map((e) => e.outcome);
    expect(outcome(kept)).toEqual(['0']);
    expect(outcome(refused)).toEqual(['4']);
    expect(outcome(bundle)).toEqual(['0']);
    expect(outcome(read)).toEqual(['0']);
    expect(outcome(search)).toEqual(['0']);
    expect(s.service.auditSummary.pending()).toEqual({});
  });

  it('keeps the counts of a summary that could not be written for the next try', async () => {
    // The service's own AuditWriter path over a store that fails while `down`.
    let down = false;
    const real = s.testDb.db;
    const flaky: Db = {
      backend: real.backend,
      query: (text, params) => (down ? Promise.reject(new Error('store down')) : real.query(text, params)),
      exec: (text) => (down ? Promise.reject(new Error('store down')) : real.exec(text)),
      transaction: (fn) => (down ? Promise.reject(new Error('store down')) : real.transaction(fn)),
      close: () => Promise.resolve(),
    };
    const writer = new AuditWriter(flaky, s.fhir);
    const summary = new AuditSummary({
      record: (e) => writer.record(e),
      logger: createLogger('silent'),
      intervalMs: 3_600_000,
    });
    const client = { clientId: `flaky-${randomUUID()}`, clientName: 'flaky feed', role: 'ehr-feed' as const };
    summary.count(client, 'not-enrolled');
    summary.count(client, 'not-enrolled');
    down = true;
    await expect(summary.flush()).rejects.toThrow(/not written/);
    expect(summary.pending()).toEqual({ [client.clientId]: { 'not-enrolled': 2 } });
    summary.count(client, 'not-relevant');
    down = false;
    await summary.flush();
    expect(summary.pending()).toEqual({});
    const written = (await searchAudit(s.call, SUMMARIES)).filter((e) => clientOf(e) === client.clientId);
    expect(written).toHaveLength(1);
    expect(countsOf(written[0])).toEqual({ 'not-enrolled': 2, 'not-relevant': 1 });
  });
});

describe('writes not retained at shutdown', () => {
  it('are written as the summary when the service stops', async () => {
    const first = await startTestService(ENV);
    let second: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      const feedClient = readDevClients(first.dataDir).find((c) => c.role === 'ehr-feed')?.clientId;
      for (let i = 0; i < 2; i++) {
        const r = await first.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: result('gone') });
        expect(r.status).toBe(202);
      }
      await first.service.stop();
      // The store outlives the service: a new one on it finds the summary the first wrote on its way out.
      second = await startService(
        { PORT: '0', HOST: '127.0.0.1', DATA_DIR: first.dataDir, LOG_LEVEL: 'silent', OUTCOMES_WORKER: 'off', ...ENV },
        { db: first.testDb.db, logger: createLogger('silent') },
      );
      const admin = readDevClients(first.dataDir).find((c) => c.role === 'admin');
      if (!admin) throw new Error('no admin client');
      const token = await fetchToken(second.url, admin);
      const call: TestService['call'] = (path, init = {}) =>
        fetch(`${second?.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });
      const written = (await searchAudit(call, SUMMARIES)).filter((e) => clientOf(e) === feedClient);
      expect(written).toHaveLength(1);
      expect(countsOf(written[0])).toEqual({ 'not-enrolled': 2 });
    } finally {
      await second?.stop();
      await first.stop();
    }
  });
});
