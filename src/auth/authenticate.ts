/**
 * Bearer-token authentication for the FHIR API: the service's own access tokens and, when
 * configured, the hospital IdP's. Sets res.locals.access, or answers 401 with an RFC 6750
 * challenge and an OperationOutcome.
 *
 * Cost: an ES384 signature check is about 0.5 ms of CPU, so each verified token is cached (keyed
 * by the token text, until its exp) and a client's later requests with the same token cost a map
 * lookup, answered synchronously (no promise to wait for on the busiest path, issue 22). The cache
 * is bounded and least recently used goes first: a feed's long-lived token stays however many
 * one-off tokens pass through.
 * Only a verified token is cached; expiry and the registry (a removed, disabled or re-roled client)
 * are checked on every request. bench/auth-verify.ts measures both paths.
 */
import type { RequestHandler, Response } from 'express';
import { decodeProtectedHeader, errors } from 'jose';
import { OperationOutcomeError, unauthorized } from '../shared/outcomes.ts';
import type { AccessContext } from './access-context.ts';
import { type VerifiedToken, verifyAccessToken } from './access-token.ts';
import { type AuthConfig, authUrls } from './auth-config.ts';
import { type AuthLogger, silentLogger } from './auth-logger.ts';
import type { ClientRegistry } from './client-registry.ts';
import { createIdpVerifier } from './external-idp.ts';
import type { SigningKeys } from './signing-keys.ts';

export interface AuthenticatorDeps {
  config: AuthConfig;
  keys: SigningKeys;
  /** When given, tokens of clients since removed from the registry (or moved to another role) stop working at once. */
  registry?: ClientRegistry;
  logger?: AuthLogger;
  /** Verified tokens kept in memory, least recently used evicted first (default 10,000). */
  cacheSize?: number;
}

export class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
}

interface CacheEntry {
  access: AccessContext;
  expMs: number;
  own: boolean;
}

/** The caller's access; synchronous when the token was verified before (cached), else a promise. */
export type TokenVerifier = (token: string) => AccessContext | Promise<AccessContext>;

export function createTokenVerifier(deps: AuthenticatorDeps): TokenVerifier {
  const urls = authUrls(deps.config);
  const own = { issuer: urls.issuer, audience: urls.fhirBase };
  const idp = deps.config.externalIdp
    ? createIdpVerifier(deps.config.externalIdp, [urls.fhirBase, urls.issuer], deps.registry)
    : undefined;
  const limit = deps.cacheSize ?? 10_000;
  const cache = new Map<string, CacheEntry>();

  const verifyUncached = async (token: string): Promise<CacheEntry> => {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new TokenRejected('malformed token');
    }
    const isOwn = kid !== undefined && deps.keys.publicKeys.has(kid);
    if (!isOwn && !idp) throw new TokenRejected('token was not issued by this service');
    let verified: VerifiedToken;
    try {
      verified = isOwn ? await verifyAccessToken(token, deps.keys, own) : await (idp as NonNullable<typeof idp>)(token);
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new TokenRejected('token expired');
      throw new TokenRejected(err instanceof Error ? err.message : 'invalid token');
    }
    return { access: verified.access, expMs: verified.exp * 1000, own: isOwn };
  };

  const admit = (token: string, entry: CacheEntry): AccessContext => {
    if (entry.expMs <= Date.now()) {
      cache.delete(token);
      throw new TokenRejected('token expired');
    }
    if (!entry.own && deps.registry?.isDisabled(entry.access.clientId)) throw new TokenRejected('client is disabled');
    if (entry.own && deps.registry) {
      const client = deps.registry.get(entry.access.clientId);
      if (!client) throw new TokenRejected('client is no longer registered or is disabled');
      if (client.role !== entry.access.role) throw new TokenRejected('client role has changed; request a new token');
    }
    return entry.access;
  };

  const verified = async (token: string): Promise<AccessContext> => {
    const entry = await verifyUncached(token);
    if (!cache.has(token) && cache.size >= limit) cache.delete(cache.keys().next().value as string);
    cache.set(token, entry);
    return admit(token, entry);
  };

  return (token) => {
    const entry = cache.get(token);
    if (!entry) return verified(token);
    // Most recently used last (a Map iterates in insertion order: the first key is the least recent).
    cache.delete(token);
    cache.set(token, entry);
    return admit(token, entry);
  };
}

function challenge(res: Response, error?: 'invalid_request' | 'invalid_token', description?: string): void {
  const parts = ['Bearer realm="fhir"'];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, "'")}"`);
  res.setHeader('WWW-Authenticate', parts.join(', '));
}

export function createAuthenticator(deps: AuthenticatorDeps): RequestHandler {
  const verify = createTokenVerifier(deps);
  const logger = deps.logger ?? silentLogger;
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') {
      challenge(res);
      next(
        new OperationOutcomeError(unauthorized('Authentication required: send Authorization: Bearer <access token>')),
      );
      return;
    }
    const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (!m) {
      challenge(res, 'invalid_request', 'expected Authorization: Bearer <token>');
      next(new OperationOutcomeError(unauthorized('Malformed Authorization header: expected Bearer <access token>')));
      return;
    }
    try {
      const access = verify(m[1] as string);
      res.locals.access = access instanceof Promise ? await access : access;
    } catch (err) {
      if (!(err instanceof TokenRejected)) {
        next(err);
        return;
      }
      logger.info('bearer token rejected', { reason: err.message, ip: req.ip });
      challenge(res, 'invalid_token', err.message);
      next(new OperationOutcomeError(unauthorized(`Invalid access token: ${err.message}`)));
      return;
    }
    next();
  };
}
