// Write-back through a real EHR outage, against the stand-in (test/support/ehr-stand-in.ts): 503 with
// Retry-After, time-outs, refused connections and the token endpoint down, for longer than the
// token's lifetime, with the adapter restarted on the same database in the middle. Every queued
// outcome reaches the EHR exactly once afterwards and none is dead-lettered; a definitive 4xx is.
// Fixtures WRITTEN FOR THE TESTS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdverseEvent, Flag } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../src/app/start.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { listOutbox } from '../../src/store/outbox-store.ts';
import { enqueueOutbox, type OutboxItem } from '../../src/writeback/outbox.ts';
import { type EhrStandIn, startEhrStandIn } from '../support/ehr-stand-in.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { OUTCOME_SYSTEM, outboxItem } from './support.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function flagItem(subject: string): OutboxItem {
  const resource: Flag = {
    resourceType: 'Flag',
    id: `fl-${subject}`,
    identifier: [{ system: OUTCOME_SYSTEM, value: `trough-${subject}` }],
    status: 'active',
    code: { text: 'sirolimus trough below the target range (written for the tests)' },
    subject: { reference: `Patient/${subject}` },
  };
  return {
    resourceType: 'Flag',
    id: `fl-${subject}`,
    versionId: 1,
    identifier: { system: OUTCOME_SYSTEM, value: `trough-${subject}` },
    operation: 'upsert',
    resource,
  };
}

function adverseEventItem(subject: string): OutboxItem {
  const resource: AdverseEvent = {
    resourceType: 'AdverseEvent',
    id: `ae-${subject}`,
    identifier: { system: OUTCOME_SYSTEM, value: `ae-${subject}` },
    actuality: 'actual',
    subject: { reference: `Patient/${subject}` },
    event: { text: 'mucositis (written for the tests)' },
  };
  return {
    resourceType: 'AdverseEvent',
    id: `ae-${subject}`,
    versionId: 1,
    identifier: { system: OUTCOME_SYSTEM, value: `ae-${subject}` },
    operation: 'upsert',
    resource,
  };
}

describe('write-back through an EHR outage longer than the token lifetime, with a restart', () => {
  let ehr: EhrStandIn;
  let t: TestDb;
  let dataDir: string;
  let service: RunningService | undefined;
  const start = () =>
    startService(
      {
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        LOG_LEVEL: 'silent',
        OUTCOMES_WORKER: 'off',
        UPSTREAM_FHIR_URL: ehr.base,
        UPSTREAM_AUTH: 'client-secret',
        UPSTREAM_TOKEN_URL: ehr.tokenUrl,
        UPSTREAM_CLIENT_ID: ehr.clientId,
        UPSTREAM_CLIENT_SECRET: ehr.clientSecret,
        // Asked for explicitly: no AdverseEvent, so the EHR's 403 for one is a definitive answer.
        UPSTREAM_SCOPE: 'system/Observation.cu system/Flag.cu',
        // Long enough for an answer on a loaded CI machine, short enough to time out a hang quickly.
        UPSTREAM_TIMEOUT_MS: '1500',
        OUTBOX_BACKOFF_BASE_MS: '100',
        OUTBOX_BACKOFF_MAX_MS: '800',
        JOB_SCHEDULES: JSON.stringify({
          'outbox-delivery': '* * * * * *',
          'upstream-pull': 'off',
          'upstream-backfill': 'off',
        }),
      },
      { db: t.db, logger: createLogger('silent') },
    );

  beforeAll(async () => {
    ehr = await startEhrStandIn({ tokenLifetimeSeconds: 2, retryAfterSeconds: 1 });
    t = await openTestDb();
    dataDir = mkdtempSync(join(tmpdir(), 'khe-outage-'));
  });
  afterAll(async () => {
    await service?.stop();
    await ehr.close();
    await t.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers every queued outcome exactly once after the EHR returns, none dead-lettered', async () => {
    service = await start();
    const subjects = ['K01', 'K02', 'K03', 'K04', 'K05', 'K06'];
    const items = [...subjects.map((s) => outboxItem(s, 1)), flagItem('K01'), flagItem('K02')];
    const keys = items.map((i) =>
      typeof i.identifier === 'string' ? i.identifier : `${i.identifier.system}|${i.identifier.value}`,
    );
    const outageStart = Date.now();

    // 1. The EHR answers 503 with Retry-After: 1.
    await ehr.setMode('unavailable');
    await t.db.transaction((tx) => enqueueOutbox(tx, items));
    await until('a 503', () => ehr.injected.unavailable > 0);
    await sleep(1200);
    // 2. It accepts connections and never answers (the adapter times out).
    await ehr.setMode('hang');
    await until('a time-out', () => ehr.injected.hang > 0);
    await sleep(700);
    // 3. It refuses connections; the adapter is restarted meanwhile (same database).
    await ehr.setMode('refuse');
    await service.stop();
    service = await start();
    await sleep(1500);
    // 4. The FHIR API is back but the token endpoint is down, after the last token expired.
    ehr.setTokenMode('down');
    await ehr.setMode('up');
    await until('a refused token request', () => ehr.injected['token-down'] > 0);
    await sleep(500);
    expect(Date.now() - outageStart).toBeGreaterThan(2000 + 1000);
    expect(ehr.writes.filter((w) => w.status < 300)).toEqual([]);
    const during = await listOutbox(t.db, undefined);
    expect(during.map((r) => r.status)).toEqual(items.map(() => 'pending'));
    expect(during.some((r) => /^UPSTREAM_TOKEN: /.test(r.lastError ?? ''))).toBe(true);

    // 5. The EHR is back.
    ehr.setTokenMode('up');
    await until(
      'every item delivered',
      async () => (await listOutbox(t.db, 'delivered')).length === items.length,
      40_000,
    );
    const rows = await listOutbox(t.db, undefined);
    expect(rows.map((r) => [r.identifier, r.status, r.deliveries])).toEqual(keys.map((k) => [k, 'delivered', 1]));
    const accepted = ehr.writes.filter((w) => w.status < 300);
    expect(accepted.map((w) => w.key).sort()).toEqual([...keys].sort());
    expect(ehr.stored('Observation')).toHaveLength(subjects.length);
    expect(ehr.stored('Flag')).toHaveLength(2);
    // Tokens expired during the outage: the adapter fetched fresh ones (two processes, renewals).
    expect(ehr.tokens.filter((x) => x.status === 200).length).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('dead-letters a definitive 4xx (the EHR refuses the type: 403) at once, and delivers the rest', async () => {
    const before = ehr.writes.length;
    await t.db.transaction((tx) => enqueueOutbox(tx, [adverseEventItem('K07'), outboxItem('K07', 1)]));
    await until('both settled', async () => (await listOutbox(t.db, 'pending')).length === 0, 30_000);
    const [dead] = await listOutbox(t.db, 'dead');
    expect(dead).toMatchObject({ resourceType: 'AdverseEvent', lastStatus: 403, attempts: 1 });
    expect(dead?.upstreamOutcome).toMatchObject({ issue: [{ code: 'forbidden' }] });
    expect(ehr.writes.slice(before).map((w) => [w.resourceType, w.status])).toEqual(
      expect.arrayContaining([
        ['AdverseEvent', 403],
        ['Observation', 201],
      ]),
    );
    expect(ehr.writes.slice(before).filter((w) => w.resourceType === 'AdverseEvent')).toHaveLength(1);
  }, 45_000);
});
