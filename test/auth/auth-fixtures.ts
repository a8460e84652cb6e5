/**
 * Shared by the auth tests: an express app on an ephemeral port with the auth routes, a protected
 * route and the service's error handler; client key pairs; signed client assertions.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler, type Router } from 'express';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { createErrorHandler } from '../../src/app/error-handler.ts';
import { type AuthConfig, type AuthConfigInput, AuthConfigSchema } from '../../src/auth/auth-config.ts';
import { createLogger } from '../../src/shared/logger.ts';

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

export async function listen(app: express.Express): Promise<RunningApp> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The auth router (if any), then GET /fhir/Patient behind the given middleware, echoing res.locals.access. */
export function testApp(options: { router?: Router; protect?: RequestHandler[] }): express.Express {
  const app = express();
  app.set('query parser', 'simple');
  if (options.router) app.use(options.router);
  app.get('/fhir/Patient', ...(options.protect ?? []), (_req, res) => {
    res.json({ access: res.locals.access ?? null });
  });
  app.use(createErrorHandler(createLogger('silent')));
  return app;
}

export function authConfig(overrides: Partial<AuthConfigInput> = {}): AuthConfig {
  return AuthConfigSchema.parse({
    production: false,
    dataDir: '/tmp/unused',
    publicBaseUrl: 'http://127.0.0.1:8080',
    ...overrides,
  });
}

/** A public JWK as the clients file takes it. */
export type PublicJwk = JWK & { kty: 'RSA' | 'EC'; kid: string; alg: 'RS384' | 'ES384' };

export interface ClientKey {
  privateKey: CryptoKey;
  publicJwk: PublicJwk;
  kid: string;
  alg: 'RS384' | 'ES384';
}

export async function clientKey(alg: 'RS384' | 'ES384' = 'RS384'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const jwk = await exportJWK(publicKey);
  return { privateKey, publicJwk: { ...jwk, kty: alg === 'RS384' ? 'RSA' : 'EC', kid, alg }, kid, alg };
}

export interface AssertionOptions {
  iss?: string;
  sub?: string;
  aud?: string;
  /** Seconds from now; null leaves exp out. */
  expIn?: number | null;
  jti?: string | null;
  alg?: string;
  kid?: string;
  header?: Record<string, unknown>;
}

export async function clientAssertion(
  key: ClientKey,
  clientId: string,
  tokenUrl: string,
  o: AssertionOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: o.alg ?? key.alg, kid: o.kid ?? key.kid, typ: 'JWT', ...o.header })
    .setIssuer(o.iss ?? clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? tokenUrl)
    .setIssuedAt(now);
  if (o.expIn !== null) jwt.setExpirationTime(now + (o.expIn ?? 240));
  if (o.jti !== null) jwt.setJti(o.jti ?? randomUUID());
  return jwt.sign(key.privateKey);
}

export function form(params: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}
