// The scopes the adapter asks the EHR for, derived from what is enabled, and the start-up check of
// what the EHR granted (log warning and GET /admin/jobs), against the stand-in granting fewer.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.ts';
import { type RunningService, startService } from '../../src/app/start.ts';
import type { Logger } from '../../src/shared/logger.ts';
import { missingScopes, neededScopes, type ScopeCheckState } from '../../src/writeback/upstream-scopes.ts';
import { type EhrStandIn, startEhrStandIn } from '../support/ehr-stand-in.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { fetchToken, readDevClients } from '../support/test-service.ts';

const SECRET = 'subscription-secret-for-tests-01';

describe('scopes needed by what is enabled', () => {
  it('asks for pull, write-back and Subscription set-up scopes in SMART v2 form', () => {
    expect(neededScopes({ pull: true, writeBack: true, subscriptionSetup: true })).toEqual([
      'system/AdverseEvent.cud',
      'system/Flag.cu',
      'system/MeasureReport.cu',
      'system/Observation.crus',
      'system/Patient.r',
      'system/Subscription.crs',
    ]);
    expect(neededScopes({ pull: true, writeBack: false, subscriptionSetup: false })).toEqual([
      'system/Observation.rs',
      'system/Patient.r',
    ]);
    expect(neededScopes({ pull: false, writeBack: true, subscriptionSetup: false })).toEqual([
      'system/AdverseEvent.cud',
      'system/Flag.cu',
      'system/MeasureReport.cu',
      'system/Observation.cu',
    ]);
  });

  it('derives the default UPSTREAM_SCOPE from the settings, and keeps an explicit one', () => {
    const base = { UPSTREAM_FHIR_URL: 'https://ehr.test/fhir', UPSTREAM_AUTH: 'bearer', UPSTREAM_BEARER_TOKEN: 'b' };
    expect(loadConfig(base).UPSTREAM_SCOPE).toBe(
      'system/AdverseEvent.cud system/Flag.cu system/MeasureReport.cu system/Observation.crus system/Patient.r',
    );
    expect(
      loadConfig({ ...base, SUBSCRIPTION_SECRET: SECRET, SUBSCRIPTION_TOPIC: 'http://example.org/topic' })
        .UPSTREAM_SCOPE,
    ).toMatch(/ system\/Subscription\.crs$/);
    expect(
      loadConfig({
        ...base,
        JOB_SCHEDULES: JSON.stringify({ 'upstream-pull': 'off', 'upstream-backfill': 'off' }),
      }).UPSTREAM_SCOPE,
    ).toBe('system/AdverseEvent.cud system/Flag.cu system/MeasureReport.cu system/Observation.cu');
    expect(loadConfig({ ...base, UPSTREAM_SCOPE: 'system/*.cruds' }).UPSTREAM_SCOPE).toBe('system/*.cruds');
  });

  it('names what a grant lacks, reading v2 permissions, v1 read/write and wildcards', () => {
    const needed = ['system/Observation.crus', 'system/AdverseEvent.cud', 'system/Patient.r'];
    expect(missingScopes(needed, ['system/Observation.rs', 'system/Patient.read'])).toEqual([
      'system/AdverseEvent.cud',
      'system/Observation.cu',
    ]);
    expect(missingScopes(needed, ['system/*.read', 'system/AdverseEvent.write', 'system/Observation.cu'])).toEqual([]);
    expect(missingScopes(needed, ['system/*.cruds'])).toEqual([]);
    // A granted scope narrowed by a query (v2 fine-grained) is not taken to cover the whole type.
    expect(missingScopes(['system/Observation.rs'], ['system/Observation.rs?category=laboratory'])).toEqual([
      'system/Observation.rs',
    ]);
  });
});

describe('start-up scope check against an EHR granting fewer scopes', () => {
  let ehr: EhrStandIn;
  let t: TestDb;
  let dataDir: string;
  let service: RunningService;
  const warnings: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (msg, fields) => {
      warnings.push({ msg, fields });
    },
    error: () => {},
    child: () => logger,
  };

  beforeAll(async () => {
    // The EHR grants pull and Observation write-back only: no MeasureReport, Flag, AdverseEvent.
    ehr = await startEhrStandIn({
      grantable: ['system/Observation.crus', 'system/Patient.r', 'system/Subscription.crs'],
    });
    t = await openTestDb();
    dataDir = mkdtempSync(join(tmpdir(), 'khe-scopes-'));
    service = await startService(
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
        JOB_SCHEDULES: JSON.stringify({ 'outbox-delivery': '0 0 1 1 *', 'upstream-pull': '0 0 1 1 *' }),
      },
      { db: t.db, logger },
    );
  });
  afterAll(async () => {
    await service.stop();
    await ehr.close();
    await t.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('asks for the derived scopes at start-up and names what is missing, in the log and GET /admin/jobs', async () => {
    const admin = readDevClients(dataDir).find((c) => c.role === 'admin');
    if (!admin) throw new Error('no admin client');
    const token = await fetchToken(service.url, admin);
    const jobs = async () =>
      (await (await fetch(`${service.url}/admin/jobs`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        upstream: { scopes: ScopeCheckState };
      };
    const end = Date.now() + 5000;
    while ((await jobs()).upstream.scopes.missing === null && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // Without any job having run: the check is made when the service starts.
    expect(ehr.tokens[0]?.asked).toEqual(service.config.UPSTREAM_SCOPE.split(' '));
    const { scopes } = (await jobs()).upstream;
    expect(scopes).toMatchObject({
      granted: ['system/Observation.crus', 'system/Patient.r'],
      missing: ['system/AdverseEvent.cud', 'system/Flag.cu', 'system/MeasureReport.cu'],
      lastError: null,
    });
    expect(scopes.needed).toEqual(service.config.UPSTREAM_SCOPE.split(' '));
    const warning = warnings.find((w) => /did not grant every scope/.test(w.msg));
    expect(warning?.fields?.missing).toEqual(['system/AdverseEvent.cud', 'system/Flag.cu', 'system/MeasureReport.cu']);
  });
});
