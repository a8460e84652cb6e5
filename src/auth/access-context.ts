/**
 * Who is calling, as every later check sees it: set by the authenticator on res.locals.access from a
 * verified token, and read by authorisation, masking, rate limiting and audit.
 */

export type Role = 'ehr-feed' | 'research' | 'outcome-assessor' | 'clinician' | 'admin';

export const ROLES: readonly Role[] = ['ehr-feed', 'research', 'outcome-assessor', 'clinician', 'admin'];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export interface AccessContext {
  clientId: string;
  clientName: string;
  role: Role;
  /** Granted scopes exactly as in the token; interpret them with scopesAllow(). */
  scopes: readonly string[];
  /** The token's jti, so audit records can name the token a request used. */
  tokenId: string;
  /**
   * Where the role came from when not from the clients file (the service's own tokens, and IdP
   * tokens of registered clients without a role claim): the IdP's role claim, or IDP_DEFAULT_ROLE.
   */
  roleSource?: 'claim' | 'default' | undefined;
}
