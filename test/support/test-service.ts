/**
 * The real app, started in-process on an ephemeral port over a per-file store, with helpers to call
 * it as each development client (one per role) would.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningService, startService } from '../../src/app/start.ts';
import type { Role } from '../../src/auth/access-context.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { openTestDb, type TestDb } from './test-db.ts';

export interface TestService {
  url: string;
  fhir: string;
  service: RunningService;
  testDb: TestDb;
  dataDir: string;
  token(role: Role): Promise<string>;
  /** fetch against the service as `role` (default admin), path relative to the service root. */
  call(path: string, init?: RequestInit & { role?: Role | 'none' }): Promise<Response>;
  stop(): Promise<void>;
}

interface DevClient {
  clientId: string;
  clientSecret: string;
  role: Role;
}

export function readDevClients(dataDir: string): DevClient[] {
  const file = JSON.parse(readFileSync(join(dataDir, 'dev-clients.json'), 'utf8')) as { clients: DevClient[] };
  return file.clients;
}

export async function fetchToken(url: string, client: DevClient): Promise<string> {
  const res = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  if (res.status !== 200) throw new Error(`token for ${client.role}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** The token's own lifetime (its `exp` less its `iat`), read without verifying: the service issued it. */
function tokenLifetimeMs(jwt: string): number {
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    exp?: number;
    iat?: number;
  };
  return claims.exp !== undefined && claims.iat !== undefined ? (claims.exp - claims.iat) * 1000 : 5 * 60_000;
}

export async function startTestService(
  env: Record<string, string> = {},
  options: { testDb?: TestDb } = {},
): Promise<TestService> {
  const testDb = options.testDb ?? (await openTestDb());
  const dataDir = mkdtempSync(join(tmpdir(), 'khe-test-'));
  const service = await startService(
    // The outcomes worker is off unless a test asks for it: tests that count resources, or time
    // recomputation, must not race a background pass (they call service.outcomes.drain()).
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      BODY_LIMIT: '1mb',
      OUTCOMES_WORKER: 'off',
      ...env,
    },
    { db: testDb.db, logger: createLogger('silent') },
  );
  const url = service.url;
  // A token is fetched again before it expires: a bench that seeds for an hour outlives one.
  const tokens = new Map<Role, { token: string; until: number }>();
  const token = async (role: Role): Promise<string> => {
    const held = tokens.get(role);
    if (held && Date.now() < held.until) return held.token;
    const client = readDevClients(dataDir).find((c) => c.role === role);
    if (!client) throw new Error(`no dev client for ${role}`);
    const t = await fetchToken(url, client);
    tokens.set(role, { token: t, until: Date.now() + tokenLifetimeMs(t) - 60_000 });
    return t;
  };
  return {
    url,
    fhir: `${url}/fhir`,
    service,
    testDb,
    dataDir,
    token,
    async call(path, init = {}) {
      const { role = 'admin', headers, ...rest } = init;
      const h = new Headers(headers);
      if (role !== 'none' && !h.has('authorization')) h.set('authorization', `Bearer ${await token(role)}`);
      if (rest.body !== undefined && !h.has('content-type')) h.set('content-type', 'application/fhir+json');
      return fetch(`${url}${path}`, { ...rest, headers: h });
    },
    async stop() {
      await service.stop();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
