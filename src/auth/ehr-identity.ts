/**
 * Who launched the trial page, from what an EHR's authorization server really gives a SMART app
 * (SMART App Launch 2: the access token is opaque or signed with a key the app cannot know, so it
 * proves nothing to the adapter). Either the OpenID Connect id_token, verified against the EHR's JWKS
 * with its issuer and the page's client id as audience, or RFC 7662 introspection of the access
 * token at the EHR. The result is the user's `fhirUser`.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { SmartEhr } from './ehr-config.ts';

/** Asymmetric only: an HMAC id_token would need a secret the page, a public client, cannot hold. */
const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];
const TIMEOUT_MS = 5000;

export class EhrIdentityError extends Error {
  override readonly name = 'EhrIdentityError';
}

export interface EhrIdentity {
  fhirUser: string;
  ehr: SmartEhr;
  /** Seconds since the epoch after which the EHR's proof of identity ends. */
  exp: number | undefined;
}

const base = (url: string): string => url.replace(/\/+$/, '');

export class EhrIdentityVerifier {
  readonly #ehrs: readonly SmartEhr[];
  readonly #keys = new Map<string, JWTVerifyGetKey>();
  readonly #fetch: typeof fetch;

  constructor(ehrs: readonly SmartEhr[], fetchImpl: typeof fetch = fetch) {
    this.#ehrs = ehrs;
    this.#fetch = fetchImpl;
    for (const e of ehrs) {
      if (e.jwksUrl)
        this.#keys.set(
          e.fhirBase,
          createRemoteJWKSet(new URL(e.jwksUrl), { timeoutDuration: TIMEOUT_MS, cacheMaxAge: 10 * 60_000 }),
        );
    }
  }

  ehrOf(fhirBase: string): SmartEhr | undefined {
    return this.#ehrs.find((e) => base(e.fhirBase) === base(fhirBase));
  }

  async identify(launch: {
    iss: string;
    idToken?: string | undefined;
    accessToken?: string | undefined;
  }): Promise<EhrIdentity> {
    const ehr = this.ehrOf(launch.iss);
    if (!ehr) throw new EhrIdentityError(`the EHR ${launch.iss} is not configured (SMART_EHRS)`);
    const keys = this.#keys.get(ehr.fhirBase);
    if (keys && launch.idToken) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(launch.idToken, keys, {
          issuer: ehr.issuer,
          audience: ehr.clientId,
          algorithms: ID_TOKEN_ALGORITHMS,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (err) {
        throw new EhrIdentityError(`id_token rejected: ${(err as Error).message}`);
      }
      const fhirUser = payload.fhirUser ?? payload.profile;
      if (typeof fhirUser !== 'string' || fhirUser.length === 0)
        throw new EhrIdentityError('the id_token has no fhirUser: ask for the openid fhirUser scopes');
      return { fhirUser, ehr, exp: payload.exp as number };
    }
    if (ehr.introspection && launch.accessToken) return this.#introspect(ehr, launch.accessToken);
    throw new EhrIdentityError(
      keys ? 'the launch gave no id_token (scopes openid fhirUser)' : 'the launch gave no access token to introspect',
    );
  }

  async #introspect(ehr: SmartEhr, token: string): Promise<EhrIdentity> {
    const intro = ehr.introspection as NonNullable<SmartEhr['introspection']>;
    let body: Record<string, unknown>;
    try {
      const res = await this.#fetch(intro.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(intro.clientId)}:${encodeURIComponent(intro.clientSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }).toString(),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as Record<string, unknown>;
    } catch (err) {
      throw new EhrIdentityError(`introspection at the EHR failed: ${(err as Error).message}`);
    }
    if (body.active !== true) throw new EhrIdentityError('the EHR says the access token is not active');
    if (typeof body.client_id === 'string' && body.client_id !== ehr.clientId)
      throw new EhrIdentityError('the access token was issued to another app');
    if (typeof body.exp === 'number' && body.exp * 1000 <= Date.now())
      throw new EhrIdentityError('the access token has expired');
    const fhirUser = body.fhirUser;
    if (typeof fhirUser !== 'string' || fhirUser.length === 0)
      throw new EhrIdentityError('introspection gave no fhirUser: ask for the openid fhirUser scopes');
    return { fhirUser, ehr, exp: typeof body.exp === 'number' ? body.exp : undefined };
  }
}
