/**
 * Authenticates the EHR calling a CDS service (CDS Hooks 2.0 "Trusting CDS Clients"): a JWT signed
 * with an asymmetric key of an allow-listed issuer, `aud` equal to the service's URL, not expired,
 * with a `jti` never seen before (recorded in the database, so a replay fails on every instance).
 * Unsigned and HMAC-signed tokens are refused before any key is looked up.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { UsedJtiStore } from '../auth/used-jti.ts';
import type { CdsClient } from './cds-config.ts';

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];

export class CdsAuthError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Who signed a trusted CDS call: the allow-listed issuer and the token's subject (the EHR's client id). */
export interface CdsCaller {
  iss: string;
  sub?: string;
}

export class CdsAuthenticator {
  readonly #keys = new Map<string, JWTVerifyGetKey>();
  readonly #jti: UsedJtiStore;

  constructor(clients: readonly CdsClient[], jti: UsedJtiStore) {
    for (const c of clients) {
      this.#keys.set(
        c.iss,
        c.jwks
          ? createLocalJWKSet(c.jwks as never)
          : createRemoteJWKSet(new URL(c.jwksUrl as string), { timeoutDuration: 3000 }),
      );
    }
    this.#jti = jti;
  }

  /** Returns the issuer and subject; throws CdsAuthError (CDS_AUTH_*) when the call is not trusted. */
  async verify(authorization: string | undefined, serviceUrl: string): Promise<CdsCaller> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) throw new CdsAuthError('CDS_AUTH_MISSING', 'a Bearer JWT is required');
    const token = m[1] as string;
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new CdsAuthError('CDS_AUTH_MALFORMED', 'the token is not a JWT');
    }
    if (!alg || alg === 'none' || !ALGORITHMS.includes(alg)) {
      throw new CdsAuthError('CDS_AUTH_ALGORITHM', `tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
    }
    const issuer = (() => {
      try {
        return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).iss as unknown;
      } catch {
        return undefined;
      }
    })();
    const keys = typeof issuer === 'string' ? this.#keys.get(issuer) : undefined;
    if (!keys) throw new CdsAuthError('CDS_AUTH_ISSUER', `issuer ${String(issuer)} is not allowed`);
    let payload: { jti?: unknown; exp?: number; sub?: unknown };
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: issuer as string,
        audience: serviceUrl,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (err) {
      throw new CdsAuthError('CDS_AUTH_INVALID', `token rejected: ${(err as Error).message}`);
    }
    if (typeof payload.jti !== 'string') throw new CdsAuthError('CDS_AUTH_INVALID', 'jti must be a string');
    const fresh = await this.#jti.claim(`cds:${issuer as string}`, payload.jti, new Date((payload.exp ?? 0) * 1000));
    if (!fresh) throw new CdsAuthError('CDS_AUTH_REPLAY', 'this token (jti) was already used');
    return { iss: issuer as string, ...(typeof payload.sub === 'string' ? { sub: payload.sub } : {}) };
  }
}
