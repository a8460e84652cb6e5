/**
 * SMART Backend Services client authentication (private_key_jwt, RFC 7523): a JWT signed with
 * RS384 or ES384 by a key in the client's registered JWKS (inline or by URL), iss = sub = client
 * id, aud = our token URL, exp no more than five minutes ahead, and a jti never used before.
 * Every failure is invalid_client.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import type { ClientRegistry } from './client-registry.ts';
import type { RegisteredClient } from './client-schema.ts';
import { OAuthError } from './oauth-error.ts';
import type { UsedJtiStore } from './used-jti.ts';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS: readonly string[] = ['RS384', 'ES384'];
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Tolerated clock difference between the client and us, on exp (both ways) and iat/nbf. */
export const CLOCK_SKEW_SECONDS = 30;
const MAX_JTI_LENGTH = 256;

function fail(description: string): never {
  throw new OAuthError('invalid_client', description);
}

export interface ClientAssertionDeps {
  registry: ClientRegistry;
  tokenUrl: string;
  usedJti: UsedJtiStore;
}

export class ClientAssertionVerifier {
  readonly #deps: ClientAssertionDeps;
  // Keyed by the client entry itself: a registry reload brings new entries and so fresh key sets.
  readonly #local = new WeakMap<RegisteredClient, JWTVerifyGetKey>();
  // Keyed by URL: jose caches the fetched set and refetches on an unknown kid (with a cooldown).
  readonly #remote = new Map<string, JWTVerifyGetKey>();

  constructor(deps: ClientAssertionDeps) {
    this.#deps = deps;
  }

  async verify(assertion: string, clientIdParam: string | undefined): Promise<RegisteredClient> {
    let alg: unknown;
    let jku: unknown;
    let typ: unknown;
    let iss: unknown;
    try {
      ({ alg, jku, typ } = decodeProtectedHeader(assertion));
      ({ iss } = decodeJwt(assertion));
    } catch {
      fail('client_assertion is not a JWT');
    }
    if (typeof alg !== 'string' || !ASSERTION_ALGORITHMS.includes(alg)) {
      fail(`client_assertion alg ${String(alg)} is not accepted; use RS384 or ES384`);
    }
    if (typ !== undefined && String(typ).toUpperCase() !== 'JWT')
      fail(`client_assertion typ ${String(typ)} is not JWT`);
    if (typeof iss !== 'string' || iss.length === 0) fail('client_assertion has no iss');
    const clientId = iss;
    if (clientIdParam !== undefined && clientIdParam !== clientId) fail('client_id does not match the assertion iss');
    const client = this.#deps.registry.get(clientId);
    if (!client) fail(`unknown client ${clientId}`);
    if (jku !== undefined && jku !== client.jwksUrl) fail('jku header does not match the registered JWKS URL');
    const keys = this.#keysFor(client);

    let exp: number;
    let jti: unknown;
    try {
      const { payload } = await jwtVerify(assertion, keys, {
        algorithms: [...ASSERTION_ALGORITHMS],
        issuer: clientId,
        subject: clientId,
        audience: this.#deps.tokenUrl,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: CLOCK_SKEW_SECONDS,
      });
      exp = payload.exp as number;
      jti = payload.jti;
    } catch (err) {
      fail(describeJoseError(err));
    }
    const now = Math.floor(Date.now() / 1000);
    if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
      fail('client_assertion exp is more than 5 minutes ahead');
    }
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
      fail('client_assertion jti must be a string of 1-256 characters');
    }
    const fresh = await this.#deps.usedJti.claim(clientId, jti, new Date((exp + CLOCK_SKEW_SECONDS) * 1000));
    if (!fresh) fail('client_assertion jti was already used');
    return client;
  }

  #keysFor(client: RegisteredClient): JWTVerifyGetKey {
    if (client.jwks) {
      let set = this.#local.get(client);
      if (!set) {
        set = createLocalJWKSet(client.jwks as Parameters<typeof createLocalJWKSet>[0]);
        this.#local.set(client, set);
      }
      return set;
    }
    if (client.jwksUrl) {
      let set = this.#remote.get(client.jwksUrl);
      if (!set) {
        set = createRemoteJWKSet(new URL(client.jwksUrl), { timeoutDuration: 5000, cacheMaxAge: 10 * 60_000 });
        this.#remote.set(client.jwksUrl, set);
      }
      return set;
    }
    fail(`client ${client.id} is registered for client_secret_basic, not private_key_jwt`);
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof errors.JWTClaimValidationFailed)
    return `client_assertion claim ${err.claim} is invalid: ${err.message}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'client_assertion signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no registered key matches the client_assertion (kid/alg)';
  if (err instanceof errors.JWKSTimeout) return 'timed out fetching the registered JWKS';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'client_assertion alg is not accepted; use RS384 or ES384';
  if (err instanceof errors.JOSEError) return `client_assertion rejected: ${err.message}`;
  return `client_assertion rejected: ${(err as Error).message ?? String(err)}`;
}
