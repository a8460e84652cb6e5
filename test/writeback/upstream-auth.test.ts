// Upstream credentials: SMART Backend Services assertion, client secret, static bearer; start-up checks.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import nock from 'nock';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.ts';
import { AppError } from '../../src/shared/app-error.ts';
import { createTokenSource } from '../../src/writeback/upstream-auth.ts';
import { UpstreamClient } from '../../src/writeback/upstream-client.ts';
import { UpstreamError } from '../../src/writeback/upstream-error.ts';

const HOST = 'https://ehr.test';
const TOKEN_URL = `${HOST}/oauth2/token`;
const patient = { resourceType: 'Patient', id: 'p1', birthDate: '2021-05-01' };

describe('upstream credentials', () => {
  afterEach(() => {
    nock.cleanAll();
  });

  it('signs a SMART Backend Services assertion (RS384, kid, iss = sub = client, aud = token URL, exp ≤ 5 min, jti)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS384', { extractable: true });
    const dir = mkdtempSync(join(tmpdir(), 'khe-up-key-'));
    const keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, await exportPKCS8(privateKey));
    const config = loadConfig({
      UPSTREAM_FHIR_URL: `${HOST}/fhir/r4`,
      UPSTREAM_AUTH: 'smart-backend',
      UPSTREAM_TOKEN_URL: TOKEN_URL,
      UPSTREAM_CLIENT_ID: 'khe-adapter',
      UPSTREAM_PRIVATE_KEY_FILE: keyFile,
      UPSTREAM_KEY_ID: 'key-2026',
    });
    const jtis: string[] = [];
    nock(HOST)
      .post('/oauth2/token')
      .times(2)
      .reply(async (req: Request) => {
        const form = new URLSearchParams(await req.text());
        expect(form.get('grant_type')).toBe('client_credentials');
        expect(form.get('scope')).toBe(config.UPSTREAM_SCOPE);
        expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        const jwt = form.get('client_assertion') as string;
        expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS384', typ: 'JWT', kid: 'key-2026' });
        const { payload } = await jwtVerify(jwt, publicKey, { issuer: 'khe-adapter', audience: TOKEN_URL });
        expect(payload.sub).toBe('khe-adapter');
        expect((payload.exp as number) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(300);
        jtis.push(payload.jti as string);
        return [200, { access_token: `at-${jtis.length}`, token_type: 'bearer', expires_in: 300 }];
      });
    nock(HOST, { reqheaders: { authorization: 'Bearer at-1' } })
      .get('/fhir/r4/Patient/p1')
      .reply(200, patient);
    // A revoked token: one refresh with a new assertion, then the request again.
    nock(HOST, { reqheaders: { authorization: 'Bearer at-1' } })
      .get('/fhir/r4/Patient/p1')
      .reply(401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
    nock(HOST, { reqheaders: { authorization: 'Bearer at-2' } })
      .get('/fhir/r4/Patient/p1')
      .reply(200, patient);
    const up = new UpstreamClient({
      fhirUrl: config.UPSTREAM_FHIR_URL as string,
      timeoutMs: 2000,
      tokens: await createTokenSource(config),
    });
    expect(await up.get('Patient/p1')).toEqual(patient);
    expect(await up.get('Patient/p1')).toEqual(patient);
    expect(jtis).toHaveLength(2);
    expect(new Set(jtis).size).toBe(2);
    expect(nock.isDone()).toBe(true);
  });

  it('uses client_secret_basic for client-secret, and sends no Medplum-only header', async () => {
    const config = loadConfig({
      UPSTREAM_FHIR_URL: `${HOST}/fhir/r4`,
      UPSTREAM_AUTH: 'client-secret',
      UPSTREAM_TOKEN_URL: TOKEN_URL,
      UPSTREAM_CLIENT_ID: 'khe adapter',
      UPSTREAM_CLIENT_SECRET: 's3cret:with/odd chars',
    });
    nock(HOST, {
      reqheaders: {
        authorization: `Basic ${Buffer.from('khe%20adapter:s3cret%3Awith%2Fodd%20chars').toString('base64')}`,
      },
    })
      .post('/oauth2/token', /grant_type=client_credentials/)
      .reply(200, { access_token: 'cs-token', expires_in: 3600 });
    nock(HOST, { reqheaders: { authorization: 'Bearer cs-token' }, badheaders: ['x-medplum'] })
      .get('/fhir/r4/Patient/p1')
      .twice()
      .reply(200, patient);
    const up = new UpstreamClient({
      fhirUrl: `${HOST}/fhir/r4`,
      timeoutMs: 2000,
      tokens: await createTokenSource(config),
    });
    await up.get('Patient/p1');
    // No client-side cache: the second read goes to the server again.
    await up.get('Patient/p1');
    expect(nock.isDone()).toBe(true);
  });

  it('does not retry by itself: one 503 is one request, reported with its status', async () => {
    const tokens = await createTokenSource({
      UPSTREAM_AUTH: 'bearer',
      UPSTREAM_BEARER_TOKEN: 'b',
      UPSTREAM_KEY_ALG: 'RS384',
      UPSTREAM_SCOPE: 's',
    });
    let calls = 0;
    nock(HOST)
      .persist()
      .put(/^\/fhir\/r4\/Observation\?identifier=/)
      .reply(() => {
        calls += 1;
        return [503, 'busy'];
      });
    const up = new UpstreamClient({ fhirUrl: `${HOST}/fhir/r4`, timeoutMs: 2000, tokens });
    const err = await up
      .putByIdentifier({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }, 'urn:s', 'v')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).status).toBe(503);
    expect((err as UpstreamError).retryable).toBe(true);
    expect(calls).toBe(1);
  });

  it.each([
    ['answers 503 with Retry-After', () => nock(HOST).post('/oauth2/token').reply(503, 'down', { 'retry-after': '7' })],
    [
      'rejects the client (401 invalid_client)',
      () => nock(HOST).post('/oauth2/token').reply(401, { error: 'invalid_client' }),
    ],
    ['answers 200 without a token', () => nock(HOST).post('/oauth2/token').reply(200, { token_type: 'bearer' })],
  ])(
    'classifies a token endpoint that %s as a retryable UPSTREAM_TOKEN failure, never a FHIR status',
    async (_name, mock) => {
      mock();
      const up = new UpstreamClient({
        fhirUrl: `${HOST}/fhir/r4`,
        timeoutMs: 2000,
        tokens: await createTokenSource(
          loadConfig({
            UPSTREAM_FHIR_URL: `${HOST}/fhir/r4`,
            UPSTREAM_AUTH: 'client-secret',
            UPSTREAM_TOKEN_URL: TOKEN_URL,
            UPSTREAM_CLIENT_ID: 'c',
            UPSTREAM_CLIENT_SECRET: 's',
          }),
        ),
      });
      const err = await up.get('Patient/p1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err).toMatchObject({ code: 'UPSTREAM_TOKEN', status: undefined, retryable: true });
      if (_name.includes('Retry-After')) expect((err as UpstreamError).retryAfterMs).toBe(7000);
      expect(nock.isDone()).toBe(true);
    },
  );

  it('classifies a refused or hanging token endpoint as a retryable UPSTREAM_TOKEN failure', async () => {
    const http = await import('node:http');
    const hanging = http.createServer(() => {});
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const hangPort = (hanging.address() as { port: number }).port;
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    try {
      for (const [port, message] of [
        [hangPort, /did not answer in time/],
        [closedPort, /unreachable: ECONNREFUSED/],
      ] as const) {
        const up = new UpstreamClient({
          fhirUrl: `${HOST}/fhir/r4`,
          timeoutMs: 300,
          tokens: await createTokenSource({
            UPSTREAM_AUTH: 'client-secret',
            UPSTREAM_TOKEN_URL: `http://127.0.0.1:${port}/token`,
            UPSTREAM_CLIENT_ID: 'c',
            UPSTREAM_CLIENT_SECRET: 's',
            UPSTREAM_KEY_ALG: 'RS384',
            UPSTREAM_SCOPE: 's',
            UPSTREAM_TIMEOUT_MS: 300,
          }),
        });
        const err = await up.get('Patient/p1').catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'UPSTREAM_TOKEN', retryable: true });
        expect((err as Error).message).toMatch(message);
      }
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  it.each([
    [{ UPSTREAM_FHIR_URL: 'https://ehr.test/fhir' }, 'UPSTREAM_AUTH'],
    [{ UPSTREAM_FHIR_URL: 'https://ehr.test/fhir', UPSTREAM_AUTH: 'bearer' }, 'UPSTREAM_BEARER_TOKEN'],
    [{ UPSTREAM_FHIR_URL: 'https://ehr.test/fhir', UPSTREAM_AUTH: 'client-secret' }, 'UPSTREAM_TOKEN_URL'],
    [
      {
        UPSTREAM_FHIR_URL: 'https://ehr.test/fhir',
        UPSTREAM_AUTH: 'smart-backend',
        UPSTREAM_TOKEN_URL: TOKEN_URL,
        UPSTREAM_CLIENT_ID: 'c',
      },
      'UPSTREAM_PRIVATE_KEY_FILE',
    ],
    [{ UPSTREAM_FHIR_URL: 'not a url' }, 'UPSTREAM_FHIR_URL'],
    [{ UPSTREAM_AUTH: 'basic' }, 'UPSTREAM_AUTH'],
    [{ SUBSCRIPTION_SECRET: 'short' }, 'SUBSCRIPTION_SECRET'],
  ])('refuses incomplete upstream settings at start-up: %j', (env, key) => {
    try {
      loadConfig(env);
      expect.unreachable();
    } catch (err) {
      expect((err as AppError).code).toBe('CONFIG_INVALID');
      expect((err as AppError).message).toMatch(new RegExp(`^configuration error: ${key}: `));
    }
  });

  it('refuses a private key file that is not a PKCS#8 key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'khe-up-key-'));
    writeFileSync(join(dir, 'bad.pem'), 'not a key');
    const err = await createTokenSource({
      UPSTREAM_AUTH: 'smart-backend',
      UPSTREAM_TOKEN_URL: TOKEN_URL,
      UPSTREAM_CLIENT_ID: 'c',
      UPSTREAM_PRIVATE_KEY_FILE: join(dir, 'bad.pem'),
      UPSTREAM_KEY_ALG: 'RS384',
      UPSTREAM_SCOPE: 's',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toMatch(/^configuration error: UPSTREAM_PRIVATE_KEY_FILE: /);
  });

  it('is off when UPSTREAM_FHIR_URL is unset', () => {
    expect(loadConfig({}).UPSTREAM_FHIR_URL).toBeUndefined();
  });
});
