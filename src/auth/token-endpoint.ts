/**
 * Public auth routes: the token endpoint (OAuth 2 client_credentials, authenticated either by a
 * SMART Backend Services client assertion or by HTTP Basic with a client secret), SMART discovery
 * and the JWKS of the service's token-signing key.
 */
import express, { type ErrorRequestHandler, type Request, type Router } from 'express';
import { decodeJwt } from 'jose';
import type { Db } from '../store/db.ts';
import { issueAccessToken } from './access-token.ts';
import { type AuthConfig, authUrls } from './auth-config.ts';
import { type AuthLogger, silentLogger } from './auth-logger.ts';
import { CLIENT_ASSERTION_TYPE, ClientAssertionVerifier } from './client-assertion.ts';
import type { ClientRegistry } from './client-registry.ts';
import type { RegisteredClient } from './client-schema.ts';
import { noStore, OAuthError, sendOAuthError } from './oauth-error.ts';
import { TokenBucketLimiter } from './rate-limit.ts';
import { grantScopes } from './scope-grant.ts';
import { splitScopes } from './scopes.ts';
import { DUMMY_SECRET_HASH, verifySecret } from './secret-hash.ts';
import type { SigningKeys } from './signing-keys.ts';
import { smartConfiguration, smartSecurityExtension } from './smart-configuration.ts';
import { UsedJtiStore } from './used-jti.ts';

export { smartSecurityExtension };

export interface AuthRouterDeps {
  db: Db;
  config: AuthConfig;
  registry: ClientRegistry;
  keys: SigningKeys;
  logger?: AuthLogger;
}

type Form = Record<string, string | string[] | undefined>;

/** RFC 6749 §3.2: parameters must not repeat. */
function param(form: Form, name: string): string | undefined {
  const v = form[name];
  if (Array.isArray(v)) throw new OAuthError('invalid_request', `parameter ${name} is repeated`);
  return v === '' ? undefined : v;
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded inside the Basic credentials. */
function parseBasic(header: string): { id: string; secret: string } {
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) throw new OAuthError('invalid_client', 'malformed Basic credentials', { basicChallenge: true });
  const formDecode = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

async function authenticateBasic(header: string, registry: ClientRegistry): Promise<RegisteredClient> {
  const { id, secret } = parseBasic(header);
  const client = registry.get(id);
  // Unknown ids cost the same scrypt as known ones, so timing does not reveal which ids exist.
  const ok = await verifySecret(secret, client?.secretHash ?? DUMMY_SECRET_HASH);
  if (!client?.secretHash || !ok) {
    throw new OAuthError('invalid_client', 'client authentication failed', { basicChallenge: true });
  }
  return client;
}

/** The client a token request says it is, before anything is verified: what its failures count against. */
function claimedClientId(req: Request, form: Form): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined && /^basic /i.test(authorization)) {
    try {
      return parseBasic(authorization).id;
    } catch {
      return undefined;
    }
  }
  const assertion = form.client_assertion;
  if (typeof assertion === 'string') {
    try {
      const { iss } = decodeJwt(assertion);
      if (typeof iss === 'string') return iss;
    } catch {
      // Not a JWT: refused as such, with nothing to count against.
    }
  }
  return typeof form.client_id === 'string' ? form.client_id : undefined;
}

export function createAuthRouter(deps: AuthRouterDeps): Router {
  const { config, registry, keys } = deps;
  const logger = deps.logger ?? silentLogger;
  const urls = authUrls(config);
  const assertions = new ClientAssertionVerifier({
    registry,
    tokenUrl: urls.tokenUrl,
    usedJti: new UsedJtiStore(deps.db),
  });
  // Guessing one client's secret from many addresses is bounded by the client, not the address.
  const failures = new TokenBucketLimiter({
    requestsPerMinute: config.tokenFailuresPerMinute,
    burst: config.tokenFailuresPerMinute,
  });
  const discovery = JSON.stringify(smartConfiguration(config));
  const jwks = JSON.stringify(keys.jwks);
  const router = express.Router();

  // SMART discovery lives under the FHIR base; the root copy serves clients that look there.
  router.get(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'], (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('application/json').send(discovery);
  });
  router.get('/auth/jwks.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('application/jwk-set+json').send(jwks);
  });

  const clientFor = async (req: Request, form: Form): Promise<RegisteredClient> => {
    const authorization = req.headers.authorization;
    const basic = authorization !== undefined && /^basic /i.test(authorization);
    const assertion = param(form, 'client_assertion');
    const assertionType = param(form, 'client_assertion_type');
    if (param(form, 'client_secret') !== undefined) {
      throw new OAuthError(
        'invalid_request',
        'client_secret_post is not supported; use HTTP Basic or a client assertion',
      );
    }
    if (basic && (assertion !== undefined || assertionType !== undefined)) {
      throw new OAuthError('invalid_request', 'use exactly one client authentication method');
    }
    if (assertion !== undefined || assertionType !== undefined) {
      if (assertionType !== CLIENT_ASSERTION_TYPE) {
        throw new OAuthError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
      }
      if (assertion === undefined) throw new OAuthError('invalid_request', 'client_assertion is missing');
      return assertions.verify(assertion, param(form, 'client_id'));
    }
    if (basic && authorization) {
      const client = await authenticateBasic(authorization, registry);
      const formId = param(form, 'client_id');
      if (formId !== undefined && formId !== client.id) {
        throw new OAuthError('invalid_request', 'client_id does not match the Basic credentials');
      }
      return client;
    }
    throw new OAuthError('invalid_client', 'client authentication is required (client assertion or HTTP Basic)');
  };

  router.post(
    '/auth/token',
    express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }),
    async (req, res) => {
      try {
        if (!req.is('application/x-www-form-urlencoded') || req.body === undefined) {
          throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
        }
        const form = req.body as Form;
        const grantType = param(form, 'grant_type');
        if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is missing');
        if (grantType !== 'client_credentials') {
          throw new OAuthError(
            'unsupported_grant_type',
            `grant_type ${grantType} is not supported; use client_credentials`,
          );
        }
        const claimed = claimedClientId(req, form);
        const wait = claimed === undefined ? 0 : failures.waitFor(claimed);
        if (wait > 0) {
          res.setHeader('Retry-After', String(wait));
          throw new OAuthError('invalid_client', `too many failed attempts for this client; retry after ${wait} s`, {
            status: 429,
          });
        }
        let client: RegisteredClient;
        try {
          client = await clientFor(req, form);
        } catch (err) {
          if (claimed !== undefined && err instanceof OAuthError && err.error === 'invalid_client')
            failures.take(claimed);
          throw err;
        }
        const scope = param(form, 'scope');
        // RFC 6749 §3.3: a scope parameter that names nothing asks for nothing; only its absence means the default.
        if (typeof form.scope === 'string' && (scope === undefined || splitScopes(scope).length === 0)) {
          throw new OAuthError('invalid_scope', 'scope is empty; name the scopes wanted or leave the parameter out');
        }
        const grant = grantScopes(scope === undefined ? undefined : splitScopes(scope), client);
        if (!grant.ok) throw new OAuthError(grant.error, grant.description);
        const token = await issueAccessToken(
          keys,
          { issuer: urls.issuer, audience: urls.fhirBase },
          client,
          grant.scopes,
          config.accessTokenLifetimeSeconds,
        );
        logger.info('access token issued', { clientId: client.id, role: client.role, tokenId: token.tokenId });
        noStore(res);
        res.status(200).json({
          access_token: token.accessToken,
          token_type: 'bearer',
          expires_in: token.expiresIn,
          scope: grant.scopes.join(' '),
        });
      } catch (err) {
        if (err instanceof OAuthError) {
          logger.warn('token request refused', { error: err.error, reason: err.message, ip: req.ip });
          sendOAuthError(res, err);
          return;
        }
        logger.error('token request failed', { err });
        sendOAuthError(res, new OAuthError('server_error', 'the token could not be issued; retry later'));
      }
    },
  );
  router.all('/auth/token', (_req, res) => {
    res.setHeader('Allow', 'POST');
    sendOAuthError(res, new OAuthError('invalid_request', 'use POST', { status: 405 }));
  });

  // Body-parser failures on the token endpoint answer as OAuth errors, not as FHIR outcomes.
  const onError: ErrorRequestHandler = (err: unknown, _req, res, next) => {
    const type = (err as { type?: string } | undefined)?.type;
    if (typeof type !== 'string' || (!type.startsWith('entity.') && !type.endsWith('.unsupported'))) {
      next(err);
      return;
    }
    const status = type === 'entity.too.large' ? 413 : 400;
    sendOAuthError(res, new OAuthError('invalid_request', `malformed request body (${type})`, { status }));
  };
  router.use('/auth/token', onError);
  return router;
}
