import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createErrorHandler } from '../../src/app/error-handler.ts';
import type { AccessContext, Role } from '../../src/auth/access-context.ts';
import { createAuthenticator } from '../../src/auth/authenticate.ts';
import { requireAccess } from '../../src/auth/authorize.ts';
import { ClientRegistry } from '../../src/auth/client-registry.ts';
import { loadSigningKeys } from '../../src/auth/signing-keys.ts';
import { createAuthRouter } from '../../src/auth/token-endpoint.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { statusOf } from '../../src/shared/outcomes.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { authConfig, basic, listen, type RunningApp } from './auth-fixtures.ts';

const feed: AccessContext = {
  clientId: 'lab',
  clientName: 'Lab feed',
  role: 'ehr-feed',
  scopes: ['system/Observation.cru'],
  tokenId: 'j1',
};

function refusal(fn: () => void): OperationOutcomeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('requireAccess', () => {
  it('passes allowed interactions', () => {
    expect(() => requireAccess(feed, 'Observation', 'create')).not.toThrow();
  });

  it('answers 403 forbidden when the role does not allow it', () => {
    const err = refusal(() => requireAccess(feed, 'ResearchSubject', 'read'));
    expect(statusOf(err.outcome)).toBe(403);
    expect(err.outcome.issue[0]?.code).toBe('forbidden');
    expect(err.outcome.issue[0]?.details?.text).toMatch(/Role ehr-feed may not read ResearchSubject/);
  });

  it('answers 403 forbidden when the token scopes do not allow it', () => {
    const err = refusal(() => requireAccess(feed, 'Patient', 'create'));
    expect(statusOf(err.outcome)).toBe(403);
    expect(err.outcome.issue[0]?.details?.text).toMatch(/scopes do not allow create on Patient/);
  });
});

describe('authorisation end to end: development clients, tokens, roles', () => {
  let t: TestDb;
  let dir: string;
  let app: RunningApp;
  let clients: { clientId: string; clientSecret: string; role: Role }[];

  beforeAll(async () => {
    t = await openTestDb();
    dir = mkdtempSync(join(tmpdir(), 'khe-auth-ac-'));
    const config = authConfig({ dataDir: dir });
    const registry = await ClientRegistry.open(config);
    const keys = await loadSigningKeys(t.db);
    const server = express();
    server.use(createAuthRouter({ db: t.db, config, registry, keys }));
    server.use('/fhir', createAuthenticator({ config, keys, registry }));
    server.get('/fhir/:type', (req, res) => {
      requireAccess(res.locals.access as AccessContext, String(req.params.type), 'search');
      res.json({ ok: true });
    });
    server.use(createErrorHandler(createLogger('silent')));
    app = await listen(server);
    clients = (JSON.parse(readFileSync(join(dir, 'dev-clients.json'), 'utf8')) as { clients: typeof clients }).clients;
  });
  afterAll(async () => {
    await app.close();
    await t.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const tokenFor = async (role: Role): Promise<string> => {
    const c = clients.find((x) => x.role === role);
    if (!c) throw new Error(role);
    const res = await fetch(`${app.url}/auth/token`, {
      method: 'POST',
      headers: {
        authorization: basic(c.clientId, c.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const search = async (role: Role, type: string): Promise<number> =>
    (await fetch(`${app.url}/fhir/${type}`, { headers: { authorization: `Bearer ${await tokenFor(role)}` } })).status;

  it('gives each development client exactly its role', async () => {
    expect(await search('admin', 'AuditEvent')).toBe(200);
    expect(await search('research', 'ResearchSubject')).toBe(200);
    expect(await search('research', 'AuditEvent')).toBe(403);
    expect(await search('outcome-assessor', 'ResearchSubject')).toBe(200);
    expect(await search('outcome-assessor', 'MedicationRequest')).toBe(403);
    expect(await search('clinician', 'Flag')).toBe(200);
    expect(await search('ehr-feed', 'Observation')).toBe(403);
    expect(await search('ehr-feed', 'ResearchSubject')).toBe(403);
  });
});
