/**
 * A test EHR that behaves like the public SMART launchers, not like the adapter: its access tokens
 * are HS256 with a secret only the EHR knows (the adapter cannot verify them) and are for the EHR's
 * own FHIR server; no role claim; an RS256 OpenID Connect id_token with `fhirUser` when the app asks
 * for `openid fhirUser`; an RFC 7662 introspection endpoint; and its own patient ids, served from
 * its own FHIR endpoint. Each launch names the user and patient, as a launcher's form would.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Patient } from '@medplum/fhirtypes';
import express from 'express';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from 'jose';

export const LAUNCHER_CLIENT_ID = 'khe-trial-page';
export const INTROSPECTION_CLIENT = { clientId: 'khe-adapter', clientSecret: 'introspection-secret-for-tests' };

export interface Launch {
  /** As launchers give it: an absolute URL on the EHR's FHIR server. */
  fhirUser: string;
  /** The EHR's patient id (absent for a standalone, user-level launch). */
  patient?: string;
}

export interface SmartLauncher {
  base: string;
  fhirBase: string;
  /** Opaque launch ids the EHR hands the app, to the user and patient they stand for. */
  launches: Map<string, Launch>;
  /** The user of a standalone launch (no launch parameter). */
  standalone: { value: Launch };
  patients: Map<string, Patient>;
  /** Set false to behave like a launcher that issues no id_token (then only introspection tells who). */
  issueIdToken: { value: boolean };
  authorizeRequests: URLSearchParams[];
  introspections: { count: number };
  close(): Promise<void>;
}

export async function startSmartLauncher(): Promise<SmartLauncher> {
  const hmac = randomBytes(32);
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...((await exportJWK(publicKey)) as JWK), kid: 'launcher-rs256', alg: 'RS256', use: 'sig' };
  const app = express();
  const codes = new Map<string, { challenge: string; redirect: string; scope: string; launch: Launch }>();
  const launches = new Map<string, Launch>();
  const patients = new Map<string, Patient>();
  const standalone = { value: { fhirUser: '' } as Launch };
  const issueIdToken = { value: true };
  const authorizeRequests: URLSearchParams[] = [];
  const introspections = { count: 0 };
  let base = '';
  app.use((req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'content-type, authorization');
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  });
  app.get('/fhir/.well-known/smart-configuration', (_req, res) => {
    res.json({
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      introspection_endpoint: `${base}/introspect`,
      jwks_uri: `${base}/jwks`,
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['openid', 'fhirUser', 'launch', 'patient/*.read', 'user/*.read'],
      capabilities: ['launch-ehr', 'launch-standalone', 'client-public', 'context-ehr-patient', 'sso-openid-connect'],
    });
  });
  app.get('/jwks', (_req, res) => {
    res.json({ keys: [jwk] });
  });
  app.get('/authorize', (req, res) => {
    const q = new URLSearchParams(req.query as Record<string, string>);
    authorizeRequests.push(q);
    const launchId = q.get('launch');
    const launch = launchId ? launches.get(launchId) : standalone.value;
    if (
      !launch ||
      q.get('response_type') !== 'code' ||
      q.get('code_challenge_method') !== 'S256' ||
      !q.get('state') ||
      q.get('aud') !== `${base}/fhir`
    ) {
      res.status(400).send('bad authorization request');
      return;
    }
    const code = randomBytes(12).toString('hex');
    codes.set(code, {
      challenge: q.get('code_challenge') as string,
      redirect: q.get('redirect_uri') as string,
      scope: q.get('scope') ?? '',
      launch,
    });
    res.redirect(`${q.get('redirect_uri')}?code=${code}&state=${encodeURIComponent(q.get('state') as string)}`);
  });
  app.post('/token', express.urlencoded({ extended: false }), async (req, res) => {
    const body = req.body as Record<string, string>;
    const grant = codes.get(body.code ?? '');
    if (
      !grant ||
      createHash('sha256')
        .update(body.code_verifier ?? '')
        .digest('base64url') !== grant.challenge ||
      body.redirect_uri !== grant.redirect
    ) {
      res.status(400).json({ error: 'invalid_grant' });
      return;
    }
    codes.delete(body.code as string);
    const scopes = grant.scope.split(' ');
    const accessToken = await new SignJWT({
      scope: grant.scope,
      client_id: LAUNCHER_CLIENT_ID,
      fhirUser: grant.launch.fhirUser,
      ...(grant.launch.patient ? { patient: grant.launch.patient } : {}),
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(base)
      .setAudience(`${base}/fhir`)
      .setSubject(grant.launch.fhirUser)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(hmac);
    const idToken =
      issueIdToken.value && scopes.includes('openid') && scopes.includes('fhirUser')
        ? await new SignJWT({ fhirUser: grant.launch.fhirUser })
            .setProtectedHeader({ alg: 'RS256', kid: 'launcher-rs256', typ: 'JWT' })
            .setIssuer(base)
            .setAudience(LAUNCHER_CLIENT_ID)
            .setSubject(grant.launch.fhirUser.split('/').pop() as string)
            .setIssuedAt()
            .setExpirationTime('1h')
            .sign(privateKey as CryptoKey)
        : undefined;
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: grant.scope,
      ...(idToken ? { id_token: idToken } : {}),
      ...(grant.launch.patient ? { patient: grant.launch.patient } : {}),
    });
  });
  const verifyAccess = async (token: string) =>
    (await jwtVerify(token, hmac, { issuer: base, audience: `${base}/fhir`, algorithms: ['HS256'] })).payload;
  app.post('/introspect', express.urlencoded({ extended: false }), async (req, res) => {
    introspections.count++;
    const expected = `Basic ${Buffer.from(`${INTROSPECTION_CLIENT.clientId}:${INTROSPECTION_CLIENT.clientSecret}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.status(401).json({ error: 'invalid_client' });
      return;
    }
    try {
      const p = await verifyAccess((req.body as { token?: string }).token ?? '');
      res.json({ active: true, scope: p.scope, client_id: p.client_id, sub: p.sub, fhirUser: p.fhirUser, exp: p.exp });
    } catch {
      res.json({ active: false });
    }
  });
  app.get('/fhir/Patient/:id', async (req, res) => {
    try {
      await verifyAccess((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    } catch {
      res.status(401).json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
      return;
    }
    const p = patients.get(req.params.id);
    if (!p) {
      res.status(404).json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
      return;
    }
    res.type('application/fhir+json').send(JSON.stringify(p));
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    fhirBase: `${base}/fhir`,
    launches,
    standalone,
    patients,
    issueIdToken,
    authorizeRequests,
    introspections,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
