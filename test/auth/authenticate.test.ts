import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessContext } from '../../src/auth/access-context.ts';
import { issueAccessToken } from '../../src/auth/access-token.ts';
import { authUrls } from '../../src/auth/auth-config.ts';
import { createAuthenticator } from '../../src/auth/authenticate.ts';
import { ClientRegistry } from '../../src/auth/client-registry.ts';
import { hashSecret } from '../../src/auth/secret-hash.ts';
import { generateSigningKeys, loadSigningKeys, type SigningKeys } from '../../src/auth/signing-keys.ts';
import { createAuthRouter } from '../../src/auth/token-endpoint.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { authConfig, basic, form, listen, type RunningApp, testApp } from './auth-fixtures.ts';

const SECRET = 'authenticate-test-secret-0123456789';

interface Echo {
  access: AccessContext | null;
}
interface Outcome {
  resourceType: string;
  issue: { code: string; details?: { text?: string } }[];
}

describe('createAuthenticator', () => {
  let t: TestDb;
  let keys: SigningKeys;
  let app: RunningApp;
  let idpHost: RunningApp;
  let idpKey: CryptoKey;
  let dir: string;
  let now = 0;
  const config = authConfig({
    publicBaseUrl: 'http://127.0.0.1:8080',
    externalIdp: {
      issuer: 'https://idp.hospital.example',
      jwksUrl: 'http://placeholder.invalid/jwks', // replaced in beforeAll with the local JWKS host
      scopeClaim: 'scp',
      clientIdClaim: 'azp',
      roleClaim: 'khe_role',
    },
  });
  const urls = authUrls(config);
  let registry: ClientRegistry;
  let clientsFile: string;

  const writeClients = async (ids: string[]): Promise<void> => {
    const secretHash = await hashSecret(SECRET);
    const clients = ids.map((id) => ({
      id,
      name: `Client ${id}`,
      role: 'research',
      allowedScopes: ['system/*.rs'],
      secretHash,
    }));
    writeFileSync(clientsFile, JSON.stringify({ clients }));
  };

  beforeAll(async () => {
    t = await openTestDb();
    keys = await loadSigningKeys(t.db);
    dir = mkdtempSync(join(tmpdir(), 'khe-auth-authn-'));
    clientsFile = join(dir, 'clients.json');
    await writeClients(['reader', 'leaver']);
    registry = ClientRegistry.fromFile(clientsFile, { now: () => now });

    const pair = await generateKeyPair('RS256');
    idpKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256' };
    const host = express();
    host.get('/jwks', (_req, res) => {
      res.json({ keys: [jwk] });
    });
    idpHost = await listen(host);
    const idp = config.externalIdp;
    if (!idp) throw new Error('test config has an IdP');
    idp.jwksUrl = `${idpHost.url}/jwks`;

    const authenticate = createAuthenticator({ config, keys, registry });
    app = await listen(
      testApp({ router: createAuthRouter({ db: t.db, config, registry, keys }), protect: [authenticate] }),
    );
  });
  afterAll(async () => {
    await app.close();
    await idpHost.close();
    await t.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (authorization?: string) =>
    fetch(`${app.url}/fhir/Patient`, { headers: authorization === undefined ? {} : { authorization } });
  const token = async (clientId: string): Promise<string> => {
    const res = await fetch(`${app.url}/auth/token`, {
      ...form({ grant_type: 'client_credentials' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, SECRET) },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const expect401 = async (res: Response, challenge: RegExp, text: RegExp) => {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(challenge);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const body = (await res.json()) as Outcome;
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0]?.code).toBe('login');
    expect(body.issue[0]?.details?.text).toMatch(text);
  };

  it('answers a request without a token with 401 and a bare Bearer challenge', async () => {
    const res = await get();
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="fhir"');
    await expect401(res, /^Bearer realm="fhir"$/, /Authentication required/);
  });

  it('answers a non-Bearer Authorization with invalid_request', async () => {
    await expect401(await get(basic('reader', SECRET)), /error="invalid_request"/, /Malformed Authorization/);
  });

  it('accepts a valid token and sets res.locals.access', async () => {
    const tok = await token('reader');
    const res = await get(`Bearer ${tok}`);
    expect(res.status).toBe(200);
    const { access } = (await res.json()) as Echo;
    expect(access).toMatchObject({ clientId: 'reader', clientName: 'Client reader', role: 'research' });
    // registered system/*.rs, narrowed to the research ceiling: no AuditEvent
    expect(access?.scopes).toContain('system/ResearchSubject.rs');
    expect(access?.scopes.some((s) => s.startsWith('system/AuditEvent') || s.startsWith('system/*'))).toBe(false);
    expect(access?.tokenId).toMatch(/^[0-9a-f-]{36}$/);
    // again, from the cache
    expect((await get(`bearer ${tok}`)).status).toBe(200);
  });

  it('rejects an expired token', async () => {
    const past = Math.floor(Date.now() / 1000) - 600;
    const expired = await new SignJWT({ client_id: 'reader', role: 'research', scope: 'system/*.rs' })
      .setProtectedHeader({ alg: 'ES384', kid: keys.kid, typ: 'at+jwt' })
      .setIssuer(urls.issuer)
      .setSubject('reader')
      .setAudience(urls.fhirBase)
      .setIssuedAt(past - 300)
      .setExpirationTime(past)
      .setJti('expired-1')
      .sign(keys.privateKey);
    await expect401(
      await get(`Bearer ${expired}`),
      /error="invalid_token", error_description="token expired"/,
      /expired/,
    );
  });

  it('rejects a cached token once it expires', async () => {
    const short = await issueAccessToken(
      keys,
      { issuer: urls.issuer, audience: urls.fhirBase },
      { id: 'reader', name: 'r', role: 'research' },
      ['system/*.rs'],
      2,
    );
    // exp is in whole seconds: a 2 s lifetime leaves at least 1 s for the first request, even
    // issued just before a second ends on a loaded machine; then wait past exp itself.
    expect((await get(`Bearer ${short.accessToken}`)).status).toBe(200);
    const { exp } = JSON.parse(Buffer.from(short.accessToken.split('.')[1] as string, 'base64url').toString()) as {
      exp: number;
    };
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 100));
    await expect401(await get(`Bearer ${short.accessToken}`), /invalid_token/, /expired/);
  });

  it('rejects a token signed by another key, even one claiming our kid', async () => {
    const other = await generateSigningKeys();
    const forged = await issueAccessToken(
      { ...other, kid: keys.kid },
      { issuer: urls.issuer, audience: urls.fhirBase },
      { id: 'reader', name: 'r', role: 'admin' },
      ['system/*.cruds'],
      300,
    );
    await expect401(await get(`Bearer ${forged.accessToken}`), /invalid_token/, /signature/);
    const unknownKid = await issueAccessToken(
      other,
      { issuer: urls.issuer, audience: urls.fhirBase },
      { id: 'reader', name: 'r', role: 'admin' },
      [],
      300,
    );
    await expect401(await get(`Bearer ${unknownKid.accessToken}`), /invalid_token/, /Invalid access token/);
  });

  it('never lets a refused token or a tampered copy of a cached one through the cache', async () => {
    const tok = await token('reader');
    // Cached now (answered synchronously from here on).
    expect((await get(`Bearer ${tok}`)).status).toBe(200);
    expect((await get(`Bearer ${tok}`)).status).toBe(200);
    // Same header and claims, another signature: a different text, verified anew and refused.
    const [h, p, sig] = tok.split('.') as [string, string, string];
    const flipped = `${sig.slice(0, -2)}${sig.slice(-2, -1) === 'A' ? 'B' : 'A'}${sig.slice(-1)}`;
    for (let i = 0; i < 2; i++) await expect401(await get(`Bearer ${h}.${p}.${flipped}`), /invalid_token/, /signature/);
    // Same signature on other claims (a role raised to admin): refused each time.
    const raised = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), role: 'admin' }),
    ).toString('base64url');
    for (let i = 0; i < 2; i++)
      await expect401(await get(`Bearer ${h}.${raised}.${sig}`), /invalid_token/, /signature/);
    // The genuine token still works.
    expect((await get(`Bearer ${tok}`)).status).toBe(200);
  });

  it('rejects our own key used for another audience or issuer', async () => {
    const wrongAud = await issueAccessToken(
      keys,
      { issuer: urls.issuer, audience: 'https://other.example/fhir' },
      { id: 'reader', name: 'r', role: 'research' },
      ['system/*.rs'],
      300,
    );
    await expect401(await get(`Bearer ${wrongAud.accessToken}`), /invalid_token/, /aud/);
    const wrongIss = await issueAccessToken(
      keys,
      { issuer: 'https://other.example', audience: urls.fhirBase },
      { id: 'reader', name: 'r', role: 'research' },
      ['system/*.rs'],
      300,
    );
    await expect401(await get(`Bearer ${wrongIss.accessToken}`), /invalid_token/, /iss/);
  });

  it('rejects garbage', async () => {
    await expect401(await get('Bearer not-a-jwt'), /invalid_token/, /malformed/);
  });

  it('stops accepting a token once its client is removed from the registry', async () => {
    const tok = await token('leaver');
    expect((await get(`Bearer ${tok}`)).status).toBe(200);
    await writeClients(['reader']);
    now += 1000;
    await expect401(await get(`Bearer ${tok}`), /invalid_token/, /no longer registered/);
  });

  describe('external IdP tokens', () => {
    const idpToken = (claims: Record<string, unknown>, o: { iss?: string; aud?: string } = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
        .setIssuer(o.iss ?? 'https://idp.hospital.example')
        .setAudience(o.aud ?? urls.fhirBase)
        .setIssuedAt()
        .setExpirationTime('5m')
        .setJti(crypto.randomUUID())
        .sign(idpKey);

    it('accepts them with client, scopes and role read from the configured claims', async () => {
      const tok = await idpToken({
        azp: 'ehr-portal',
        scp: ['system/Patient.rs', 'system/Observation.rs'],
        khe_role: 'clinician',
      });
      const res = await get(`Bearer ${tok}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as Echo).access).toMatchObject({
        clientId: 'ehr-portal',
        clientName: 'ehr-portal',
        role: 'clinician',
        scopes: ['system/Patient.rs', 'system/Observation.rs'],
      });
    });

    it('takes the role of a registered client when the token carries none', async () => {
      const tok = await idpToken({ azp: 'reader', scp: 'system/*.rs' });
      const res = await get(`Bearer ${tok}`);
      expect(((await res.json()) as Echo).access).toMatchObject({ clientId: 'reader', role: 'research' });
    });

    it('rejects tokens without a usable role, for another audience, from another issuer, or HS256', async () => {
      await expect401(
        await get(`Bearer ${await idpToken({ azp: 'stranger', scp: 'system/*.rs' })}`),
        /invalid_token/,
        /role/,
      );
      await expect401(
        await get(`Bearer ${await idpToken({ azp: 'x', khe_role: 'superuser' })}`),
        /invalid_token/,
        /role/,
      );
      await expect401(
        await get(`Bearer ${await idpToken({ azp: 'x', khe_role: 'admin' }, { aud: 'https://other.example' })}`),
        /invalid_token/,
        /aud/,
      );
      await expect401(
        await get(`Bearer ${await idpToken({ azp: 'x', khe_role: 'admin' }, { iss: 'https://evil.example' })}`),
        /invalid_token/,
        /iss/,
      );
      const hs = await new SignJWT({ azp: 'x', khe_role: 'admin' })
        .setProtectedHeader({ alg: 'HS256', kid: 'idp-1' })
        .setIssuer('https://idp.hospital.example')
        .setAudience(urls.fhirBase)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode('guessable'));
      await expect401(await get(`Bearer ${hs}`), /invalid_token/, /Invalid access token/);
    });
  });
});
