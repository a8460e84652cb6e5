import express from 'express';
import { base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAccessToken } from '../../src/auth/access-token.ts';
import { authUrls } from '../../src/auth/auth-config.ts';
import { ClientRegistry } from '../../src/auth/client-registry.ts';
import { hashSecret } from '../../src/auth/secret-hash.ts';
import { loadSigningKeys, type SigningKeys } from '../../src/auth/signing-keys.ts';
import { createAuthRouter, smartSecurityExtension } from '../../src/auth/token-endpoint.ts';
import { UsedJtiStore } from '../../src/auth/used-jti.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import {
  authConfig,
  basic,
  type ClientKey,
  clientAssertion,
  clientKey,
  form,
  listen,
  type RunningApp,
  testApp,
} from './auth-fixtures.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const SECRET = 'the-admin-client-secret-0123456789';

interface TokenBody {
  access_token?: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  error?: string;
  error_description?: string;
}

describe('token endpoint', () => {
  let t: TestDb;
  let keys: SigningKeys;
  let app: RunningApp;
  let jwksHost: RunningApp;
  let rsKey: ClientKey;
  let esKey: ClientKey;
  let urlKey: ClientKey;
  let registry: ClientRegistry;
  const config = authConfig({ publicBaseUrl: 'https://trial.example.org' });
  const { tokenUrl } = authUrls(config);

  const start = (): Promise<RunningApp> =>
    listen(testApp({ router: createAuthRouter({ db: t.db, config, registry, keys }) }));

  beforeAll(async () => {
    t = await openTestDb();
    keys = await loadSigningKeys(t.db);
    [rsKey, esKey, urlKey] = await Promise.all([clientKey('RS384'), clientKey('ES384'), clientKey('RS384')]);
    const host = express();
    host.get('/jwks.json', (_req, res) => {
      res.json({ keys: [urlKey.publicJwk] });
    });
    jwksHost = await listen(host);
    registry = ClientRegistry.fromClients([
      {
        id: 'lab-feed',
        name: 'Lab feed',
        role: 'ehr-feed',
        allowedScopes: ['system/Observation.cru', 'system/Patient.cru'],
        jwks: { keys: [rsKey.publicJwk] },
      },
      {
        id: 'registry',
        name: 'Registry',
        role: 'research',
        allowedScopes: ['system/*.rs'],
        jwks: { keys: [esKey.publicJwk] },
      },
      {
        id: 'ehr-view',
        name: 'EHR viewer',
        role: 'clinician',
        allowedScopes: ['system/*.rs'],
        jwksUrl: `${jwksHost.url}/jwks.json`,
      },
      {
        id: 'ops',
        name: 'Operations',
        role: 'admin',
        allowedScopes: ['system/*.cruds'],
        secretHash: await hashSecret(SECRET),
      },
    ]);
    app = await start();
  });
  afterAll(async () => {
    await app.close();
    await jwksHost.close();
    await t.drop();
  });

  const post = async (params: Record<string, string>, headers: Record<string, string> = {}, base = app.url) => {
    const init = form(params);
    const res = await fetch(`${base}/auth/token`, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), ...headers },
    });
    return { res, body: (await res.json()) as TokenBody };
  };
  const withAssertion = (assertion: string, extra: Record<string, string> = {}) =>
    post({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
      ...extra,
    });

  const expectInvalidClient = async (p: Promise<{ res: Response; body: TokenBody }>, description: RegExp) => {
    const { res, body } = await p;
    expect(res.status).toBe(401);
    expect(body.error).toBe('invalid_client');
    expect(body.error_description).toMatch(description);
    expect(res.headers.get('cache-control')).toBe('no-store');
  };

  describe('SMART Backend Services (private_key_jwt)', () => {
    it('issues a signed access token for an RS384 assertion, with no-store headers', async () => {
      const { res, body } = await withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl), {
        scope: 'system/Observation.cu',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/Observation.cu' });
      const token = body.access_token ?? '';
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES384', kid: keys.kid, typ: 'at+jwt' });
      const claims = decodeJwt(token);
      expect(claims).toMatchObject({
        iss: 'https://trial.example.org',
        sub: 'lab-feed',
        aud: 'https://trial.example.org/fhir',
        client_id: 'lab-feed',
        role: 'ehr-feed',
        scope: 'system/Observation.cu',
      });
      expect(typeof claims.jti).toBe('string');
      expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(300);
      const verified = await verifyAccessToken(token, keys, {
        issuer: 'https://trial.example.org',
        audience: 'https://trial.example.org/fhir',
      });
      expect(verified.access).toEqual({
        clientId: 'lab-feed',
        clientName: 'Lab feed',
        role: 'ehr-feed',
        scopes: ['system/Observation.cu'],
        tokenId: claims.jti,
      });
    });

    it('issues a token for an ES384 assertion and narrows the scope to what the client may have', async () => {
      const { res, body } = await withAssertion(await clientAssertion(esKey, 'registry', tokenUrl), {
        scope: 'system/Observation.rs system/Patient.cud openid',
      });
      expect(res.status).toBe(200);
      expect(body.scope).toBe('system/Observation.rs');
    });

    it('defaults the scope to all the client registered, within its role', async () => {
      const { body } = await withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl));
      // The feed's role is write-only: the registered "r" is not granted.
      expect(body.scope).toBe('system/Observation.cu system/Patient.cu');
    });

    it('verifies with a key fetched from the registered JWKS URL', async () => {
      const { res, body } = await withAssertion(await clientAssertion(urlKey, 'ehr-view', tokenUrl), {
        client_id: 'ehr-view',
      });
      expect(res.status).toBe(200);
      expect(decodeJwt(body.access_token ?? '').role).toBe('clinician');
    });

    it('rejects a bad signature', async () => {
      const impostor = { ...(await clientKey('RS384')), kid: rsKey.kid };
      await expectInvalidClient(withAssertion(await clientAssertion(impostor, 'lab-feed', tokenUrl)), /signature/);
    });

    it('rejects a wrong audience', async () => {
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl, { aud: 'https://elsewhere.example/token' })),
        /aud/,
      );
    });

    it('rejects an expired assertion', async () => {
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl, { expIn: -120 })),
        /expired/,
      );
    });

    it('rejects exp more than five minutes ahead', async () => {
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl, { expIn: 600 })),
        /more than 5 minutes/,
      );
    });

    it('rejects an assertion without exp or without jti', async () => {
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl, { expIn: null })),
        /exp/,
      );
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl, { jti: null })),
        /jti/,
      );
    });

    it('rejects a replayed jti, also after a restart (a new router on the same database)', async () => {
      const assertion = await clientAssertion(rsKey, 'lab-feed', tokenUrl);
      expect((await withAssertion(assertion)).res.status).toBe(200);
      await expectInvalidClient(withAssertion(assertion), /already used/);
      // the same jti in a fresh assertion is a replay too
      const jti = decodeJwt(assertion).jti ?? '';
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl, { jti })),
        /already used/,
      );

      const restarted = await start();
      try {
        const { res, body } = await post(
          { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion },
          {},
          restarted.url,
        );
        expect(res.status).toBe(401);
        expect(body.error_description).toMatch(/already used/);
      } finally {
        await restarted.close();
      }
    });

    it('rejects an unknown client and iss ≠ sub', async () => {
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'nobody', tokenUrl)),
        /unknown client nobody/,
      );
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl, { sub: 'registry' })),
        /sub/,
      );
    });

    it('rejects alg none', async () => {
      const now = Math.floor(Date.now() / 1000);
      const enc = (o: object) => base64url.encode(JSON.stringify(o));
      const unsigned = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({
        iss: 'lab-feed',
        sub: 'lab-feed',
        aud: tokenUrl,
        exp: now + 60,
        jti: 'none-1',
      })}.`;
      await expectInvalidClient(withAssertion(unsigned), /alg none is not accepted/);
    });

    it('rejects HS256 (even keyed with the public key text) and RS256', async () => {
      const hs = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', kid: rsKey.kid })
        .setIssuer('lab-feed')
        .setSubject('lab-feed')
        .setAudience(tokenUrl)
        .setExpirationTime('2m')
        .setJti('hs-1')
        .sign(new TextEncoder().encode(JSON.stringify(rsKey.publicJwk)));
      await expectInvalidClient(withAssertion(hs), /alg HS256 is not accepted/);
      const { privateKey } = await generateKeyPair('RS256');
      const rs256 = { ...rsKey, privateKey, alg: 'RS256' as never };
      await expectInvalidClient(
        withAssertion(await clientAssertion(rs256, 'lab-feed', tokenUrl)),
        /alg RS256 is not accepted/,
      );
    });

    it('rejects a jku header that is not the registered JWKS URL', async () => {
      await expectInvalidClient(
        withAssertion(
          await clientAssertion(urlKey, 'ehr-view', tokenUrl, { header: { jku: 'https://attacker.example/jwks' } }),
        ),
        /jku/,
      );
    });

    it('rejects a client_id that differs from the assertion, and a secret client using an assertion', async () => {
      await expectInvalidClient(
        withAssertion(await clientAssertion(rsKey, 'lab-feed', tokenUrl), { client_id: 'registry' }),
        /client_id/,
      );
      await expectInvalidClient(withAssertion(await clientAssertion(rsKey, 'ops', tokenUrl)), /client_secret_basic/);
    });
  });

  describe('client_secret_basic', () => {
    it('issues a token for the right secret', async () => {
      const { res, body } = await post(
        { grant_type: 'client_credentials', scope: 'system/*.rs' },
        { authorization: basic('ops', SECRET) },
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      expect(body).toMatchObject({ token_type: 'bearer', scope: 'system/*.rs', expires_in: 300 });
      expect(decodeJwt(body.access_token ?? '')).toMatchObject({ sub: 'ops', role: 'admin' });
    });

    it('rejects a wrong secret and an unknown client with 401 and a Basic challenge', async () => {
      for (const auth of [basic('ops', `${SECRET}x`), basic('ghost', SECRET), basic('lab-feed', SECRET)]) {
        const { res, body } = await post({ grant_type: 'client_credentials' }, { authorization: auth });
        expect(res.status).toBe(401);
        expect(body.error).toBe('invalid_client');
        expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
      }
    });

    it('refuses two authentication methods at once and client_secret in the body', async () => {
      const both = await post(
        {
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await clientAssertion(rsKey, 'lab-feed', tokenUrl),
        },
        { authorization: basic('ops', SECRET) },
      );
      expect(both.res.status).toBe(400);
      expect(both.body.error).toBe('invalid_request');
      const post2 = await post({ grant_type: 'client_credentials', client_id: 'ops', client_secret: SECRET });
      expect(post2.res.status).toBe(400);
      expect(post2.body.error).toBe('invalid_request');
    });
  });

  describe('failed attempts per client id', () => {
    it('refuses a client with 429 after too many failed attempts, from any address, and leaves other clients alone', async () => {
      const limited = await listen(
        testApp({
          router: createAuthRouter({ db: t.db, config: { ...config, tokenFailuresPerMinute: 3 }, registry, keys }),
        }),
      );
      try {
        const attempt = async (secret: string, id = 'ops') => {
          const res = await fetch(`${limited.url}/auth/token`, {
            ...form({ grant_type: 'client_credentials' }),
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret) },
          });
          return {
            status: res.status,
            body: (await res.json()) as TokenBody,
            retryAfter: res.headers.get('retry-after'),
          };
        };
        for (let i = 0; i < 3; i++) expect((await attempt(`guess-${i}`)).status).toBe(401);
        const refused = await attempt(SECRET);
        expect([refused.status, refused.body.error]).toEqual([429, 'invalid_client']);
        expect(Number(refused.retryAfter)).toBeGreaterThan(0);
        // Another client id has its own count; a wrong secret for it does not lock out 'ops' further.
        expect((await attempt('wrong', 'lab-feed')).status).toBe(401);
      } finally {
        await limited.close();
      }
    });
  });

  describe('request errors', () => {
    it('answers unsupported_grant_type, invalid_request and invalid_scope with 400', async () => {
      const auth = { authorization: basic('ops', SECRET) };
      const grant = await post({ grant_type: 'authorization_code', code: 'x' }, auth);
      expect([grant.res.status, grant.body.error]).toEqual([400, 'unsupported_grant_type']);
      const missing = await post({ scope: 'system/*.rs' }, auth);
      expect([missing.res.status, missing.body.error]).toEqual([400, 'invalid_request']);
      const malformed = await post({ grant_type: 'client_credentials', scope: 'system/Observation.xyz' }, auth);
      expect([malformed.res.status, malformed.body.error]).toEqual([400, 'invalid_scope']);
      const research = await withAssertion(await clientAssertion(esKey, 'registry', tokenUrl), {
        scope: 'system/Observation.c',
      });
      expect([research.res.status, research.body.error]).toEqual([400, 'invalid_scope']);
      expect(research.res.headers.get('cache-control')).toBe('no-store');
    });

    it('answers invalid_scope to an empty scope instead of granting everything the client may have', async () => {
      const auth = { authorization: basic('ops', SECRET) };
      for (const scope of ['', ' ', '\t \n']) {
        const { res, body } = await post({ grant_type: 'client_credentials', scope }, auth);
        expect([res.status, body.error, body.access_token]).toEqual([400, 'invalid_scope', undefined]);
      }
      const absent = await post({ grant_type: 'client_credentials' }, auth);
      expect(absent.res.status).toBe(200);
    });

    it('requires client authentication and a form body', async () => {
      await expectInvalidClient(post({ grant_type: 'client_credentials' }), /authentication is required/);
      const json = await fetch(`${app.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basic('ops', SECRET) },
        body: JSON.stringify({ grant_type: 'client_credentials' }),
      });
      expect(json.status).toBe(400);
      expect(((await json.json()) as TokenBody).error).toBe('invalid_request');
      const repeated = await fetch(`${app.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('ops', SECRET) },
        body: 'grant_type=client_credentials&grant_type=client_credentials',
      });
      expect(repeated.status).toBe(400);
      const huge = await fetch(`${app.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&scope=${'x'.repeat(20_000)}`,
      });
      expect(huge.status).toBe(413);
      expect(((await huge.json()) as TokenBody).error).toBe('invalid_request');
      const get = await fetch(`${app.url}/auth/token`);
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
    });
  });

  describe('discovery', () => {
    it('serves .well-known/smart-configuration at the root and under the FHIR base', async () => {
      for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
        const res = await fetch(`${app.url}${path}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        const body = (await res.json()) as Record<string, unknown>;
        expect(body).toMatchObject({
          token_endpoint: 'https://trial.example.org/auth/token',
          jwks_uri: 'https://trial.example.org/auth/jwks.json',
          token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
          token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
          grant_types_supported: ['client_credentials'],
          code_challenge_methods_supported: ['S256'],
        });
        expect(body.capabilities).toEqual(
          expect.arrayContaining([
            'client-confidential-asymmetric',
            'client-confidential-symmetric',
            'permission-v1',
            'permission-v2',
          ]),
        );
        expect(body.scopes_supported).toEqual(
          expect.arrayContaining(['system/*.rs', 'system/*.cruds', 'system/Observation.crus']),
        );
      }
    });

    it('serves the public JWKS, which verifies issued tokens', async () => {
      const res = await fetch(`${app.url}/auth/jwks.json`);
      expect(res.status).toBe(200);
      const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).not.toHaveProperty('d');
      const { body } = await post({ grant_type: 'client_credentials' }, { authorization: basic('ops', SECRET) });
      const { createLocalJWKSet } = await import('jose');
      await expect(jwtVerify(body.access_token ?? '', createLocalJWKSet(jwks as never))).resolves.toBeDefined();
    });

    it('describes the SMART security of the CapabilityStatement', () => {
      expect(smartSecurityExtension(config)).toMatchObject({
        service: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
            ],
          },
        ],
        extension: [
          {
            url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
            extension: [{ url: 'token', valueUri: 'https://trial.example.org/auth/token' }],
          },
        ],
      });
    });
  });

  describe('used jti store', () => {
    it('prunes only expired entries', async () => {
      const store = new UsedJtiStore(t.db);
      expect(await store.claim('c', 'old', new Date(Date.now() - 60_000))).toBe(true);
      expect(await store.claim('c', 'live', new Date(Date.now() + 60_000))).toBe(true);
      expect(await store.claim('c', 'live', new Date(Date.now() + 60_000))).toBe(false);
      // the same jti from another client is not a replay
      expect(await store.claim('d', 'live', new Date(Date.now() + 60_000))).toBe(true);
      expect(await store.prune()).toBeGreaterThanOrEqual(1);
      const left = await t.db.query<{ jti: string }>(
        "SELECT jti FROM auth_used_jti WHERE client_id IN ('c', 'd') ORDER BY jti",
      );
      expect(left.rows.map((r) => r.jti)).toEqual(['live', 'live']);
    });
  });
});
