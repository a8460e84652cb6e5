// Write-back delivery against a mocked upstream (nock): what each upstream answer does to the outbox.
import type { Observation } from '@medplum/fhirtypes';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/app-error.ts';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import { listOutbox, outboxStats, retryOutboxDead } from '../../src/store/outbox-store.ts';
import { writeVersion } from '../../src/store/resource-store.ts';
import { enqueueOutbox } from '../../src/writeback/outbox.ts';
import { createTokenSource } from '../../src/writeback/upstream-auth.ts';
import { UpstreamClient } from '../../src/writeback/upstream-client.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { bearerUpstream, OUTCOME_SYSTEM, outboxItem, worker } from './support.ts';

const HOST = 'https://ehr.test';
const BASE = `${HOST}/fhir/r4`;
const path = (subject: string) =>
  `/fhir/r4/Observation?identifier=${encodeURIComponent(`${OUTCOME_SYSTEM}|km-response-${subject}`)}`;
const conflict = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'duplicate', details: { text: 'Multiple resources match' } }],
};

describe('outbox delivery', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });
  beforeEach(async () => {
    await t.db.query('DELETE FROM outbox');
  });
  afterEach(() => {
    nock.cleanAll();
  });

  it('creates (201) then updates (200) by conditional PUT on the business identifier, without local id or version', async () => {
    const bodies: Observation[] = [];
    const scope = nock(HOST, { reqheaders: { authorization: 'Bearer test-token' } })
      .put(path('S1'))
      .reply(async (req: Request) => {
        bodies.push((await req.json()) as Observation);
        return [201, { ...bodies.at(-1), id: 'up-1' }];
      })
      .put(path('S1'))
      .reply(async (req: Request) => {
        bodies.push((await req.json()) as Observation);
        return [200, { ...bodies.at(-1), id: 'up-1' }];
      });
    const w = worker(t.db, await bearerUpstream(BASE));
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S1', 1)]));
    expect((await w.drain()).delivered).toBe(1);
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S1', 2)]));
    expect((await w.drain()).delivered).toBe(1);
    expect(scope.isDone()).toBe(true);
    expect(bodies).toHaveLength(2);
    expect(bodies[0]?.id).toBeUndefined();
    expect(bodies[0]?.meta).toBeUndefined();
    expect(bodies[0]?.identifier).toEqual([{ system: OUTCOME_SYSTEM, value: 'km-response-S1' }]);
    expect(bodies[1]?.valueQuantity?.value).toBe(152);
    const [row] = await listOutbox(t.db, undefined);
    expect(row).toMatchObject({ status: 'delivered', deliveries: 2, lastStatus: 200, versionId: 2 });
    expect(await outboxStats(t.db)).toEqual({ pending: 0, dead: 0, lagSeconds: 0, oldestPendingSince: null });
  });

  it('coalesces versions queued before delivery: only the latest is sent; an older one arriving late is ignored', async () => {
    const sent: number[] = [];
    nock(HOST)
      .put(path('S2'))
      .reply(async (req: Request) => {
        sent.push(((await req.json()) as Observation).valueQuantity?.value ?? -1);
        return [201, {}];
      });
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S2', 1)]));
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S2', 3)]));
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S2', 2)]));
    await worker(t.db, await bearerUpstream(BASE)).drain();
    expect(sent).toEqual([153]);
    expect((await listOutbox(t.db, 'delivered'))[0]?.versionId).toBe(3);
  });

  it('sends a version queued while the previous one was in flight, after it', async () => {
    const sent: number[] = [];
    nock(HOST)
      .put(path('S20'))
      .times(2)
      .reply(async (req: Request) => {
        const value = ((await req.json()) as Observation).valueQuantity?.value ?? -1;
        sent.push(value);
        if (sent.length === 1) await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S20', 2)]));
        return [sent.length === 1 ? 201 : 200, {}];
      });
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S20', 1)]));
    const w = worker(t.db, await bearerUpstream(BASE));
    await w.drain();
    expect(sent).toEqual([151, 152]);
    expect((await listOutbox(t.db, undefined))[0]).toMatchObject({ status: 'delivered', versionId: 2, deliveries: 2 });
  });

  it('queues nothing when the writing transaction rolls back', async () => {
    await expect(
      t.db.transaction(async (tx) => {
        await enqueueOutbox(tx, [outboxItem('S3', 1)]);
        throw new Error('outcome write failed');
      }),
    ).rejects.toThrow('outcome write failed');
    expect(await listOutbox(t.db, undefined)).toEqual([]);
  });

  it('keeps no copy of a stored version (an outcome just written) and sends that version as the store holds it', async () => {
    const bodies: Observation[] = [];
    nock(HOST)
      .put(path('S20'))
      .times(2)
      .reply(async (req: Request) => {
        bodies.push((await req.json()) as Observation);
        return [201, {}];
      });
    const v1 = outboxItem('S20', 1, 301);
    const v2 = outboxItem('S20', 2, 302);
    const version = (item: typeof v1) => ({
      resourceType: 'Observation',
      id: item.id,
      versionId: item.versionId,
      lastUpdated: new Date().toISOString(),
      method: 'PUT' as const,
      content: JSON.stringify(item.resource),
      index: undefined,
    });
    await t.db.query(`DELETE FROM resources WHERE resource_type = 'Observation' AND id = $1`, [v1.id]);
    await t.db.transaction(async (tx) => {
      await writeFirstVersions(tx, [version(v1)]);
      await enqueueOutbox(tx, [{ ...v1, stored: true }]);
    });
    const rows = await t.db.query<{ content: string | null }>('SELECT content FROM outbox');
    expect(rows.rows).toEqual([{ content: null }]);
    const w = worker(t.db, await bearerUpstream(BASE));
    // Version 2 written but not yet queued: the row still sends the version it names.
    await t.db.transaction((tx) => writeVersion(tx, version(v2), false));
    expect((await w.drain()).delivered).toBe(1);
    await t.db.transaction((tx) => enqueueOutbox(tx, [{ ...v2, stored: true }]));
    expect((await w.drain()).delivered).toBe(1);
    expect(bodies.map((b) => b.valueQuantity?.value)).toEqual([301, 302]);
    expect(bodies[0]?.id).toBeUndefined();
    expect(bodies[0]?.identifier).toEqual([{ system: OUTCOME_SYSTEM, value: 'km-response-S20' }]);
    // A stored version that is not valid R4 is kept with its dead letter, as any other.
    const bad = outboxItem('S21', 1);
    bad.resource.code = { ...bad.resource.code, text: '' };
    await t.db.transaction((tx) => enqueueOutbox(tx, [{ ...bad, stored: true }]));
    const dead = await t.db.query<{ status: string; content: string | null }>(
      `SELECT status, content FROM outbox WHERE identifier_value = 'km-response-S21'`,
    );
    expect(dead.rows[0]?.status).toBe('dead');
    expect(dead.rows[0]?.content).toContain('"text":""');
    // A version the store does not hold is a dead letter, never sent.
    await t.db.transaction((tx) => enqueueOutbox(tx, [{ ...outboxItem('S22', 7), stored: true }]));
    expect(await w.drain()).toMatchObject({ claimed: 1, dead: 1, delivered: 0 });
    expect((await listOutbox(t.db, 'dead')).find((d) => d.identifier.endsWith('S22'))?.lastError).toMatch(
      /^OUTBOX_RESOURCE_MISSING/,
    );
  });

  it('keeps each body with its own row when one statement queues rows with and without a body', async () => {
    // Only the rows that carry a body send one (with its position): a shifted position would put
    // one resource's body on another's row, or drop it.
    const items = ['S30', 'S31', 'S32', 'S33', 'S34'].map((s, i) => outboxItem(s, 1, 400 + i));
    const withBody = new Set([1, 2, 4]);
    await t.db.transaction((tx) =>
      enqueueOutbox(
        tx,
        items.map((item, i) => (withBody.has(i) ? item : { ...item, stored: true })),
      ),
    );
    const rows = await t.db.query<{ identifier_value: string; content: string | null }>(
      `SELECT identifier_value, content FROM outbox ORDER BY identifier_value`,
    );
    expect(
      rows.rows.map((r) => [
        r.identifier_value,
        r.content === null ? null : (JSON.parse(r.content) as Observation).valueQuantity?.value,
      ]),
    ).toEqual([
      ['km-response-S30', null],
      ['km-response-S31', 401],
      ['km-response-S32', 402],
      ['km-response-S33', null],
      ['km-response-S34', 404],
    ]);
  });

  it('rejects a malformed item with OUTBOX_ITEM_INVALID', async () => {
    const bad = { ...outboxItem('S4', 1), identifier: 'no-separator' };
    const err = await t.db.transaction((tx) => enqueueOutbox(tx, [bad])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('OUTBOX_ITEM_INVALID');
  });

  it('queues a resource that is not valid R4 as a dead letter (OUTBOX_RESOURCE_INVALID), never sending it, even on retry', async () => {
    const empty = outboxItem('S14', 1);
    empty.resource.code = { ...empty.resource.code, text: '' };
    const structural = outboxItem('S15', 1);
    structural.resource.effectiveDateTime = '10 April 2022';
    await t.db.transaction((tx) => enqueueOutbox(tx, [empty, structural, outboxItem('S16', 1)]));
    const dead = await listOutbox(t.db, 'dead');
    expect(dead.map((d) => [d.identifier.split('|')[1], d.attempts, d.lastStatus])).toEqual([
      ['km-response-S14', 0, null],
      ['km-response-S15', 0, null],
    ]);
    expect(dead[0]?.lastError).toBe(
      'OUTBOX_RESOURCE_INVALID: not valid R4, not sent: Observation.code.text: empty value',
    );
    expect(dead[1]?.lastError).toMatch(
      /^OUTBOX_RESOURCE_INVALID: not valid R4, not sent: Observation\.effective\[x\]: Invalid dateTime/,
    );
    const scope = nock(HOST).put(path('S16')).reply(201, {});
    const w = worker(t.db, await bearerUpstream(BASE));
    expect(await w.drain()).toMatchObject({ claimed: 1, delivered: 1 });
    expect(scope.isDone()).toBe(true);
    // An admin's retry does not send it either: checked again before sending.
    await retryOutboxDead(t.db, undefined);
    expect(await w.drain()).toMatchObject({ claimed: 2, dead: 2, delivered: 0 });
    expect((await listOutbox(t.db, 'dead')).map((d) => d.lastError?.split(':')[0])).toEqual([
      'OUTBOX_RESOURCE_INVALID',
      'OUTBOX_RESOURCE_INVALID',
    ]);
    // A valid newer version replaces the dead letter and is delivered.
    const ok = nock(HOST).put(path('S14')).reply(200, {});
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S14', 2)]));
    expect(await w.drain()).toMatchObject({ delivered: 1 });
    expect(ok.isDone()).toBe(true);
  });

  it('dead-letters a 412 (several upstream matches) at once, keeping the upstream OperationOutcome', async () => {
    const scope = nock(HOST).put(path('S5')).reply(412, conflict, { 'content-type': 'application/fhir+json' });
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S5', 1)]));
    const r = await worker(t.db, await bearerUpstream(BASE)).drain();
    expect(r).toMatchObject({ claimed: 1, dead: 1, delivered: 0 });
    expect(scope.isDone()).toBe(true);
    const [dead] = await listOutbox(t.db, 'dead');
    expect(dead).toMatchObject({ attempts: 1, lastStatus: 412 });
    expect(dead?.upstreamOutcome).toEqual(conflict);
  });

  it('honours Retry-After on 429: the resource waits at least that long and the round stops', async () => {
    let now = Date.parse('2026-11-24T10:00:00Z');
    const scope = nock(HOST).put(path('S6')).reply(429, conflict, { 'retry-after': '120' });
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S6', 1), outboxItem('S7', 1)]));
    const w = worker(t.db, await bearerUpstream(BASE), { now: () => now });
    const r = await w.round();
    expect(scope.isDone()).toBe(true);
    // S7 was handed back untried (concurrency lanes may have started it only if S6 had not failed yet).
    expect(r.retrying + r.delivered + r.released).toBe(2);
    now += 60_000;
    expect((await w.round()).claimed).toBe(0); // paused by Retry-After
    now += 61_000;
    const ok = nock(HOST).put(path('S6')).reply(200, {}).put(path('S7')).reply(201, {});
    await w.drain();
    expect(ok.isDone()).toBe(true);
    expect((await listOutbox(t.db, 'delivered')).map((x) => x.identifier).sort()).toEqual([
      `${OUTCOME_SYSTEM}|km-response-S6`,
      `${OUTCOME_SYSTEM}|km-response-S7`,
    ]);
  });

  it('retries a 500 with exponential backoff, then delivers', async () => {
    let now = Date.parse('2026-11-24T10:00:00Z');
    nock(HOST).put(path('S8')).times(2).reply(500, conflict);
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S8', 1)]));
    const w = worker(t.db, await bearerUpstream(BASE), { now: () => now });
    expect((await w.round()).retrying).toBe(1);
    now += 500; // first backoff: 1 s × jitter 0.75 (random 0.5) = 750 ms, not yet due
    expect((await w.round()).claimed).toBe(0);
    now += 300;
    expect((await w.round()).retrying).toBe(1);
    now += 1400; // second backoff: 2 s × 0.75 = 1.5 s
    expect((await w.round()).claimed).toBe(0);
    now += 200;
    nock(HOST).put(path('S8')).reply(201, {});
    expect((await w.round()).delivered).toBe(1);
    expect((await listOutbox(t.db, 'delivered'))[0]).toMatchObject({ deliveries: 1, lastStatus: 201 });
  });

  it('treats a timeout as retryable (an upstream that accepts and never answers)', async () => {
    const http = await import('node:http');
    const hanging = http.createServer(() => {});
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const port = (hanging.address() as { port: number }).port;
    try {
      await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S12', 1)]));
      const w = worker(t.db, await bearerUpstream(`http://127.0.0.1:${port}/fhir`, 200));
      const started = Date.now();
      expect((await w.round()).retrying).toBe(1);
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await listOutbox(t.db, 'pending'))[0]?.lastError).toMatch(/^UPSTREAM_TIMEOUT/);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  // nock 15's replyWithError never settles a native fetch (checked: the request hangs), so refused
  // connections are tested against a real closed port below.
  it('retries 502/503 however often, and dead-letters only once the item is older than the maximum age', async () => {
    let now = Date.now();
    nock(HOST).put(path('S9')).reply(502, 'Bad Gateway', { 'content-type': 'text/plain' });
    nock(HOST).put(path('S9')).times(40).reply(503, conflict);
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S9', 1)]));
    const w = worker(t.db, await bearerUpstream(BASE), { now: () => now, maxAgeMs: 3_600_000 });
    expect((await w.round()).retrying).toBe(1);
    let [row] = await listOutbox(t.db, 'pending');
    expect(row).toMatchObject({ lastStatus: 502, upstreamOutcome: { issue: [{ details: { text: 'Bad Gateway' } }] } });
    // Far more failures than any attempt cap would allow, all within the hour: still pending.
    for (let i = 0; i < 30; i++) {
      now += 100_000;
      expect((await w.round()).retrying).toBe(1);
    }
    [row] = await listOutbox(t.db, 'pending');
    expect(row).toMatchObject({ lastStatus: 503, attempts: 31 });
    now += 700_000;
    expect((await w.round()).dead).toBe(1);
    [row] = await listOutbox(t.db, 'dead');
    expect(row).toMatchObject({ attempts: 32, lastStatus: 503 });
    expect(row?.upstreamOutcome).toEqual(conflict);
  });

  it('treats a real refused connection as a network error', async () => {
    const net = await import('node:net');
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S10', 1)]));
    const w = worker(t.db, await bearerUpstream(`http://127.0.0.1:${port}/fhir`));
    expect((await w.round()).retrying).toBe(1);
    expect((await listOutbox(t.db, 'pending'))[0]?.lastError).toMatch(/^UPSTREAM_NETWORK: .*ECONNREFUSED/);
  });

  it('keeps an item pending, without a status, while the token endpoint refuses connections', async () => {
    const net = await import('node:net');
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('S13', 1)]));
    const up = new UpstreamClient({
      fhirUrl: BASE,
      timeoutMs: 2000,
      tokens: await createTokenSource({
        UPSTREAM_AUTH: 'client-secret',
        UPSTREAM_TOKEN_URL: `http://127.0.0.1:${port}/token`,
        UPSTREAM_CLIENT_ID: 'c',
        UPSTREAM_CLIENT_SECRET: 's',
        UPSTREAM_KEY_ALG: 'RS384',
        UPSTREAM_SCOPE: 'system/Observation.cu',
      }),
    });
    expect(await worker(t.db, up).round()).toMatchObject({ retrying: 1, dead: 0 });
    const [row] = await listOutbox(t.db, undefined);
    expect(row).toMatchObject({ status: 'pending', lastStatus: null });
    expect(row?.lastError).toMatch(/^UPSTREAM_TOKEN: the token endpoint is unreachable: ECONNREFUSED/);
  });

  it('retracts by conditional DELETE when no final version is given; 404 counts as already gone', async () => {
    const scope = nock(HOST).delete(path('S11')).reply(404, conflict);
    await t.db.transaction((tx) =>
      enqueueOutbox(tx, [{ ...outboxItem('S11', 2), operation: 'retract', resource: undefined }]),
    );
    expect((await worker(t.db, await bearerUpstream(BASE)).drain()).delivered).toBe(1);
    expect(scope.isDone()).toBe(true);
  });
});
