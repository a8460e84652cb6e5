/**
 * Access-control settings, validated with zod where the service starts, so a bad value stops it
 * with a message naming the setting rather than failing at the first token request.
 */
import * as z from 'zod';
import { ROLES } from './access-context.ts';

/** Asymmetric only: an IdP token signed with a shared secret or "none" is never accepted. */
export const IDP_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
] as const;

export const ExternalIdpSchema = z.strictObject({
  issuer: z.string().min(1),
  jwksUrl: z.url(),
  scopeClaim: z.string().min(1).default('scope'),
  clientIdClaim: z.string().min(1).default('client_id'),
  roleClaim: z.string().min(1).optional(),
  defaultRole: z.enum(ROLES).optional(),
  /** Accepted `aud` values; default: the FHIR base and the public base URL. */
  audience: z.array(z.string().min(1)).min(1).optional(),
  algorithms: z.array(z.enum(IDP_ALGORITHMS)).min(1).optional(),
});

export const AuthConfigSchema = z.strictObject({
  clientsFile: z.string().min(1).optional(),
  production: z.boolean(),
  dataDir: z.string().min(1),
  /** Where clients reach the service, e.g. http://127.0.0.1:8080; token URL and audiences derive from it. */
  publicBaseUrl: z.url().transform((u) => u.replace(/\/+$/, '')),
  accessTokenLifetimeSeconds: z.number().int().min(30).max(3600).default(300),
  rateLimit: z
    .strictObject({
      requestsPerMinute: z.number().int().min(1).default(6000),
      /** Bucket size: requests allowed at once after an idle spell; default 10 seconds' worth. */
      burst: z.number().int().min(1).optional(),
    })
    .prefault({}),
  externalIdp: ExternalIdpSchema.optional(),
  /** Failed token requests per client id per minute, all of them allowed at once (then refilled). */
  tokenFailuresPerMinute: z.number().int().min(1).default(20),
});

export type AuthConfig = z.infer<typeof AuthConfigSchema>;
export type AuthConfigInput = z.input<typeof AuthConfigSchema>;
export type ExternalIdpConfig = z.infer<typeof ExternalIdpSchema>;

/** The URLs every part of the auth layer must agree on. */
export function authUrls(config: Pick<AuthConfig, 'publicBaseUrl'>): {
  issuer: string;
  tokenUrl: string;
  jwksUrl: string;
  fhirBase: string;
} {
  const base = config.publicBaseUrl.replace(/\/+$/, '');
  return { issuer: base, tokenUrl: `${base}/auth/token`, jwksUrl: `${base}/auth/jwks.json`, fhirBase: `${base}/fhir` };
}
