/**
 * Tokens from the hospital's own identity provider, when one is configured: verified against its
 * issuer and JWKS URL, with the client id, scopes and role read from claims named in
 * configuration (IdPs disagree: `scope` vs `scp`, `client_id` vs `azp`, string vs array).
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { type AccessContext, isRole, type Role } from './access-context.ts';
import type { VerifiedToken } from './access-token.ts';
import { type ExternalIdpConfig, IDP_ALGORITHMS } from './auth-config.ts';
import type { ClientRegistry } from './client-registry.ts';

function claimStrings(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter((s) => s.length > 0);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

export type IdpVerifier = (token: string) => Promise<VerifiedToken>;

export function createIdpVerifier(
  idp: ExternalIdpConfig,
  defaultAudience: readonly string[],
  registry: ClientRegistry | undefined,
): IdpVerifier {
  const keys = createRemoteJWKSet(new URL(idp.jwksUrl), { timeoutDuration: 5000, cacheMaxAge: 10 * 60_000 });
  const audience = [...(idp.audience ?? defaultAudience)];
  const algorithms = [...(idp.algorithms ?? IDP_ALGORITHMS)];

  const roleOf = (payload: JWTPayload, clientId: string): Pick<AccessContext, 'role' | 'roleSource'> => {
    if (idp.roleClaim !== undefined && payload[idp.roleClaim] !== undefined) {
      const roles = claimStrings(payload[idp.roleClaim]).filter(isRole);
      if (roles.length !== 1) throw new Error(`claim ${idp.roleClaim} must name exactly one role`);
      return { role: roles[0] as Role, roleSource: 'claim' };
    }
    const registered = registry?.get(clientId);
    if (registered) return { role: registered.role };
    if (idp.defaultRole) return { role: idp.defaultRole, roleSource: 'default' };
    throw new Error('token carries no role and its client is not registered');
  };

  return async (token) => {
    const { payload } = await jwtVerify(token, keys, {
      issuer: idp.issuer,
      audience,
      algorithms,
      requiredClaims: ['exp'],
    });
    const clientId = payload[idp.clientIdClaim];
    if (typeof clientId !== 'string' || clientId.length === 0) throw new Error(`token has no ${idp.clientIdClaim}`);
    if (registry?.isDisabled(clientId)) throw new Error('client is disabled');
    const access: AccessContext = {
      clientId,
      clientName: registry?.get(clientId)?.name ?? clientId,
      ...roleOf(payload, clientId),
      scopes: claimStrings(payload[idp.scopeClaim]),
      tokenId: payload.jti ?? createHash('sha256').update(token).digest('base64url').slice(0, 22),
    };
    return { access, exp: payload.exp as number };
  };
}
