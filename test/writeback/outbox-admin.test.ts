// Admins list, retry and discard write-back dead letters (API and CLI); queue depth, lag and the age alert in /metrics.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueOutbox } from '../../src/writeback/outbox.ts';
import { startTestService, type TestService } from '../support/test-service.ts';
import { OUTCOME_SYSTEM, outboxItem } from './support.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const HOST = 'https://ehr.test';
const path = (subject: string) =>
  `/fhir/r4/Observation?identifier=${encodeURIComponent(`${OUTCOME_SYSTEM}|km-response-${subject}`)}`;
const invalid = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'invalid', details: { text: 'Observation.subject: unknown patient' } }],
};

describe('write-back dead letters, for admins', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({
      UPSTREAM_FHIR_URL: `${HOST}/fhir/r4`,
      UPSTREAM_AUTH: 'bearer',
      UPSTREAM_BEARER_TOKEN: 'test-token',
      OUTBOX_ALERT_AGE_MINUTES: '30',
      JOB_SCHEDULES: JSON.stringify({ 'outbox-delivery': 'off', 'upstream-pull': 'off', 'upstream-backfill': 'off' }),
    });
  });
  afterAll(async () => {
    nock.cleanAll();
    await s.stop();
  });

  type Listing = { items: { id: string; identifier: string; status: string; upstreamOutcome: unknown }[] };
  const list = async (status = 'dead') => (await (await s.call(`/admin/outbox?status=${status}`)).json()) as Listing;

  it('lists dead letters with the upstream OperationOutcome, retries one, discards another', async () => {
    nock(HOST).put(path('A1')).reply(422, invalid).put(path('A2')).reply(400, invalid);
    await s.testDb.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('A1', 1), outboxItem('A2', 1)]));
    const worker = s.service.upstream.worker;
    if (!worker) throw new Error('worker not wired');
    expect((await worker.drain()).dead).toBe(2);

    const metrics = await (await s.call('/metrics')).text();
    expect(metrics).toMatch(/^khe_outbox_dead_letters 2$/m);
    expect(metrics).toMatch(/^khe_outbox_queue_depth 0$/m);
    expect(metrics).toMatch(/^khe_outbox_delivery_lag_seconds 0$/m);

    const dead = (await list()).items;
    expect(dead.map((d) => d.identifier)).toEqual([
      `${OUTCOME_SYSTEM}|km-response-A1`,
      `${OUTCOME_SYSTEM}|km-response-A2`,
    ]);
    expect(dead[0]?.upstreamOutcome).toEqual(invalid);
    const [a1, a2] = dead.map((d) => d.id);

    const retried = await s.call('/admin/outbox/retry', { method: 'POST', body: JSON.stringify({ ids: [a1] }) });
    expect(await retried.json()).toEqual({ retried: [a1] });
    const queued = await (await s.call('/metrics')).text();
    expect(queued).toMatch(/^khe_outbox_queue_depth 1$/m);
    expect(queued).toMatch(/^khe_outbox_delivery_lag_seconds \d/m);
    nock(HOST).put(path('A1')).reply(201, {});
    expect((await worker.drain()).delivered).toBe(1);

    const discarded = await s.call(`/admin/outbox/${a2}/discard`, {
      method: 'POST',
      body: JSON.stringify({ reason: 'subject withdrew consent for EHR write-back' }),
    });
    expect(await discarded.json()).toEqual({ id: a2, status: 'discarded' });
    expect((await list()).items).toEqual([]);
    expect((await list('discarded')).items.map((d) => d.id)).toEqual([a2]);
    expect((await list('delivered')).items.map((d) => d.id)).toEqual([a1]);
  });

  it('answers bad requests and other roles with OperationOutcomes', async () => {
    expect((await s.call('/admin/outbox', { role: 'clinician' })).status).toBe(403);
    expect((await s.call('/admin/outbox?status=lost')).status).toBe(400);
    const missing = await s.call('/admin/outbox/999999/discard', { method: 'POST', body: '{"reason":"x"}' });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    expect((await s.call('/admin/outbox/1/discard', { method: 'POST', body: '{}' })).status).toBe(400);
    expect((await s.call('/admin/outbox/retry', { method: 'POST', body: '{"ids":["x"]}' })).status).toBe(400);
  });

  it('has a CLI that lists and retries through the API', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, ADAPTER_URL: s.url, DATA_DIR: s.dataDir };
    const node = join(ROOT, 'node_modules', '.bin', 'node');
    const listed = await run(node, ['src/cli/outbox.ts', 'list', 'delivered'], { cwd: ROOT, env });
    expect((JSON.parse(listed.stdout) as Listing).items).toHaveLength(1);
    const retried = await run(node, ['src/cli/outbox.ts', 'retry'], { cwd: ROOT, env });
    expect(JSON.parse(retried.stdout)).toEqual({ retried: [] });
    const jobs = await run(node, ['src/cli/outbox.ts', 'jobs'], { cwd: ROOT, env });
    expect((JSON.parse(jobs.stdout) as { jobs: { name: string }[] }).jobs.map((j) => j.name)).toContain(
      'outbox-delivery',
    );
    const usage = await run(node, ['src/cli/outbox.ts', 'frobnicate'], { cwd: ROOT, env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(usage).toMatchObject({ code: 2 });
  });

  it('shows the oldest pending age and raises the alert past OUTBOX_ALERT_AGE_MINUTES, in /metrics and the admin view', async () => {
    type Health = { stats: { oldestPendingAgeSeconds: number; alert: boolean; alertAgeSeconds: number } };
    const health = async () => ((await (await s.call('/admin/outbox?status=pending')).json()) as Health).stats;
    await s.testDb.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('A3', 1)]));
    let metrics = await (await s.call('/metrics')).text();
    expect(metrics).toMatch(/^khe_outbox_alert 0$/m);
    expect(await health()).toMatchObject({ alert: false, alertAgeSeconds: 1800 });
    // Pending for 40 minutes (an EHR outage): past the 30-minute alert age.
    await s.testDb.db.query(
      `UPDATE outbox SET pending_since = now() - interval '40 minutes' WHERE identifier_value = 'km-response-A3'`,
    );
    metrics = await (await s.call('/metrics')).text();
    expect(metrics).toMatch(/^khe_outbox_alert 1$/m);
    const age = Number(/^khe_outbox_oldest_pending_age_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(age).toBeGreaterThanOrEqual(2400);
    expect(age).toBeLessThan(2500);
    const h = await health();
    expect(h.alert).toBe(true);
    expect(h.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(2400);
    nock(HOST).put(path('A3')).reply(201, {});
    expect((await s.service.upstream.worker?.drain())?.delivered).toBe(1);
    metrics = await (await s.call('/metrics')).text();
    expect(metrics).toMatch(/^khe_outbox_alert 0$/m);
    expect(metrics).toMatch(/^khe_outbox_oldest_pending_age_seconds 0$/m);
    expect(await health()).toMatchObject({ alert: false, oldestPendingAgeSeconds: 0 });
  });
});
