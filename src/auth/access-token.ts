/**
 * The access tokens this service issues: JWTs (RFC 9068 shape, typ at+jwt) signed ES384 with the
 * shared key from signing-keys.ts, so any instance verifies a token any other instance issued.
 */
import { randomUUID } from 'node:crypto';
import { type JWTHeaderParameters, jwtVerify, SignJWT } from 'jose';
import { type AccessContext, isRole, type Role } from './access-context.ts';
import { ACCESS_TOKEN_ALG, type SigningKeys } from './signing-keys.ts';

export const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  tokenId: string;
}

export interface TokenAudience {
  issuer: string;
  /** The resource server the token is for: the FHIR base. */
  audience: string;
}

export async function issueAccessToken(
  keys: SigningKeys,
  where: TokenAudience,
  client: { id: string; name: string; role: Role },
  scopes: readonly string[],
  lifetimeSeconds: number,
): Promise<IssuedToken> {
  const tokenId = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const accessToken = await new SignJWT({
    client_id: client.id,
    client_name: client.name,
    role: client.role,
    scope: scopes.join(' '),
  })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: keys.kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(where.issuer)
    .setSubject(client.id)
    .setAudience(where.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .setJti(tokenId)
    .sign(keys.privateKey);
  return { accessToken, expiresIn: lifetimeSeconds, tokenId };
}

export interface VerifiedToken {
  access: AccessContext;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/** Throws (a jose error or Error) when the token is not one of ours, is expired, or is malformed. */
export async function verifyAccessToken(
  token: string,
  keys: SigningKeys,
  where: TokenAudience,
): Promise<VerifiedToken> {
  const { payload } = await jwtVerify(
    token,
    (header: JWTHeaderParameters) => {
      const key = header.kid === undefined ? undefined : keys.publicKeys.get(header.kid);
      if (!key) throw new Error('token was not signed by this service');
      return key;
    },
    {
      algorithms: [ACCESS_TOKEN_ALG],
      issuer: where.issuer,
      audience: where.audience,
      typ: ACCESS_TOKEN_TYPE,
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    },
  );
  const { client_id: clientId, client_name: clientName, role, scope, jti, exp } = payload;
  if (typeof clientId !== 'string' || clientId !== payload.sub) throw new Error('token client_id does not match sub');
  if (!isRole(role)) throw new Error('token has no valid role');
  if (typeof scope !== 'string') throw new Error('token has no scope');
  return {
    access: {
      clientId,
      clientName: typeof clientName === 'string' ? clientName : clientId,
      role,
      scopes: scope.split(' ').filter((s) => s.length > 0),
      tokenId: jti as string,
    },
    exp: exp as number,
  };
}
