/**
 * The adapter's own short-lived session for the trial page, issued once the EHR user is known and
 * has a trial role: an ES384 JWT signed with the service's key (so every instance accepts it) of a
 * type the FHIR API refuses (typ khe-session+jwt, audience the page's API), carrying the user's
 * fhirUser, trial role and EHR.
 */
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, type JWTHeaderParameters, jwtVerify, SignJWT } from 'jose';
import { TRIAL_ROLES, type TrialRole } from './ehr-config.ts';
import { ACCESS_TOKEN_ALG, type SigningKeys } from './signing-keys.ts';

export const SESSION_TYPE = 'khe-session+jwt';

export interface AppSession {
  fhirUser: string;
  trialRole: TrialRole;
  /** The EHR's FHIR base the user launched from. */
  ehr: string;
  sessionId: string;
}

export class AppSessions {
  readonly #keys: SigningKeys;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #lifetimeSeconds: number;

  constructor(keys: SigningKeys, publicBaseUrl: string, lifetimeSeconds: number) {
    this.#keys = keys;
    this.#issuer = publicBaseUrl;
    this.#audience = `${publicBaseUrl}/app`;
    this.#lifetimeSeconds = lifetimeSeconds;
  }

  /** The session never outlives the EHR's own proof of who the user is. */
  async issue(s: Omit<AppSession, 'sessionId'>, notAfter?: number): Promise<{ token: string; expiresIn: number }> {
    const now = Math.floor(Date.now() / 1000);
    const exp = Math.min(now + this.#lifetimeSeconds, notAfter ?? Number.POSITIVE_INFINITY);
    const token = await new SignJWT({ trial_role: s.trialRole, ehr: s.ehr })
      .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: this.#keys.kid, typ: SESSION_TYPE })
      .setIssuer(this.#issuer)
      .setAudience(this.#audience)
      .setSubject(s.fhirUser)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.#keys.privateKey);
    return { token, expiresIn: exp - now };
  }

  static isSession(token: string): boolean {
    try {
      return decodeProtectedHeader(token).typ === SESSION_TYPE;
    } catch {
      return false;
    }
  }

  /** Throws when the token is not a live session of this service. */
  async verify(token: string): Promise<AppSession> {
    const { payload } = await jwtVerify(
      token,
      (header: JWTHeaderParameters) => {
        const key = header.kid === undefined ? undefined : this.#keys.publicKeys.get(header.kid);
        if (!key) throw new Error('session was not signed by this service');
        return key;
      },
      {
        algorithms: [ACCESS_TOKEN_ALG],
        issuer: this.#issuer,
        audience: this.#audience,
        typ: SESSION_TYPE,
        requiredClaims: ['exp', 'sub', 'jti'],
      },
    );
    const role = payload.trial_role;
    if (typeof role !== 'string' || !(TRIAL_ROLES as readonly string[]).includes(role))
      throw new Error('session has no trial role');
    return {
      fhirUser: payload.sub as string,
      trialRole: role as TrialRole,
      ehr: typeof payload.ehr === 'string' ? payload.ehr : '',
      sessionId: payload.jti as string,
    };
  }
}
