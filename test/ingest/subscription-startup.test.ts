// The upstream Subscription is created when the service starts (then kept by its job), not up to
// one job interval later; an EHR unreachable at start-up is retried with backoff. Against the EHR
// stand-in (test/support/ehr-stand-in.ts), on both backends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../src/app/start.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { type EhrStandIn, startEhrStandIn } from '../support/ehr-stand-in.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

const TOPIC = 'http://example.org/FHIR/SubscriptionTopic/lab-result';

async function until(check: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

describe('upstream Subscription at start-up', () => {
  let t: TestDb;
  let dataDir: string;
  let service: RunningService | undefined;
  const stands: EhrStandIn[] = [];
  const start = (ehr: EhrStandIn) =>
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
        SUBSCRIPTION_SECRET: 'subscription-secret-for-tests-01',
        SUBSCRIPTION_TOPIC: TOPIC,
        OUTBOX_BACKOFF_BASE_MS: '100',
        OUTBOX_BACKOFF_MAX_MS: '400',
        // Once a year: only the start-up step can have created it within the test.
        JOB_SCHEDULES: JSON.stringify({
          'subscription-setup': '0 0 1 1 *',
          'outbox-delivery': 'off',
          'upstream-pull': 'off',
          'upstream-backfill': 'off',
        }),
      },
      { db: t.db, logger: createLogger('silent') },
    );

  beforeAll(async () => {
    t = await openTestDb();
    dataDir = mkdtempSync(join(tmpdir(), 'khe-sub-start-'));
  });
  afterAll(async () => {
    await service?.stop();
    for (const s of stands) await s.close();
    await t.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  // The job runs once a year, so only the start-up step can have made it; the few seconds allowed
  // are for a loaded CI machine (about 50 ms on a quiet one), not for a job interval.
  it('creates the Subscription as the service starts, before its job ever runs', async () => {
    const ehr = await startEhrStandIn();
    stands.push(ehr);
    service = await start(ehr);
    await until(() => ehr.stored('Subscription').length > 0, 5000);
    const [sub] = ehr.stored('Subscription') as Subscription[];
    expect(sub).toMatchObject({
      criteria: TOPIC,
      channel: { type: 'rest-hook', endpoint: `${service.config.publicBaseUrl}/subscriptions/notify/ehr` },
    });
    const job = (await service.jobs.states()).find((j) => j.name === 'subscription-setup');
    expect(job).toMatchObject({ executed: 0 });
  });

  it('retries with backoff while the EHR cannot be reached at start-up, and creates it once it can', async () => {
    await service?.stop();
    const ehr = await startEhrStandIn();
    stands.push(ehr);
    ehr.setTokenMode('down');
    service = await start(ehr);
    await until(() => ehr.injected['token-down'] >= 2, 15_000);
    expect(ehr.stored('Subscription')).toEqual([]);
    ehr.setTokenMode('up');
    // The token endpoint asked for Retry-After: 1, so the next try comes within about a second.
    await until(() => ehr.stored('Subscription').length > 0, 10_000);
    expect(ehr.stored('Subscription')).toHaveLength(1);
    expect(ehr.writes.filter((w) => w.resourceType === 'Subscription' && w.status === 201)).toHaveLength(1);
  });
});
