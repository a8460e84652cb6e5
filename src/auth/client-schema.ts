/**
 * The clients file: every API client the service accepts, with its role, the scopes it may ever be
 * granted, and exactly one credential: a JWKS (inline or by URL) for SMART Backend Services'
 * private_key_jwt, or a scrypt secret hash (see secret-hash.ts) for client_secret_basic.
 *
 *   { "clients": [
 *       { "id": "epic-feed", "name": "Epic interface engine", "role": "ehr-feed",
 *         "allowedScopes": ["system/Observation.cru", "system/Patient.cru"],
 *         "jwksUrl": "https://interfaces.hospital.example/jwks.json" },
 *       { "id": "registry-sync", "name": "Trial registry", "role": "research",
 *         "allowedScopes": ["system/*.rs"], "secretHash": "scrypt$16384$8$1$…$…" } ] }
 */
import * as z from 'zod';
import { ROLES } from './access-context.ts';
import { classifyScope } from './scopes.ts';
import { parseSecretHash } from './secret-hash.ts';

// Private key members (RFC 7518 §6.2.2, §6.3.2): their presence means a private key was pasted in.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const PublicJwkSchema = z
  .looseObject({
    kty: z.enum(['RSA', 'EC'], { error: 'kty must be RSA or EC' }),
    kid: z.string().min(1).optional(),
    alg: z.enum(['RS384', 'ES384'], { error: 'alg must be RS384 or ES384' }).optional(),
  })
  .refine((k) => PRIVATE_MEMBERS.every((m) => !(m in k)), { error: 'JWKS must hold public keys only' });

export const ClientSchema = z
  .strictObject({
    // Appears in HTTP Basic (no ':') and as a JWT iss/sub; keep it to URL-safe characters.
    id: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, { error: 'id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -' }),
    name: z.string().min(1).max(200),
    role: z.enum(ROLES),
    allowedScopes: z
      .array(z.string())
      .min(1)
      .superRefine((scopes, ctx) => {
        for (const s of scopes) {
          const c = classifyScope(s);
          if (c.kind !== 'resource' || c.scope.context === 'patient') {
            ctx.addIssue({ code: 'custom', message: `not a usable system/ or user/ resource scope: ${s}` });
          }
        }
      }),
    jwks: z.strictObject({ keys: z.array(PublicJwkSchema).min(1) }).optional(),
    jwksUrl: z.url().optional(),
    secretHash: z
      .string()
      .refine((h) => parseSecretHash(h) !== undefined, { error: 'secretHash must be scrypt$N$r$p$salt$hash' })
      .optional(),
    // Switched off without deleting the entry: no token, its tokens stop working, no export download.
    disabled: z.boolean().optional(),
  })
  .refine((c) => [c.jwks, c.jwksUrl, c.secretHash].filter((x) => x !== undefined).length === 1, {
    error: 'give exactly one of jwks, jwksUrl or secretHash',
  });

export type RegisteredClient = z.infer<typeof ClientSchema>;

export const ClientsFileSchema = z.strictObject({ clients: z.array(ClientSchema) }).superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.clients.forEach((c, i) => {
    if (seen.has(c.id))
      ctx.addIssue({ code: 'custom', message: `duplicate client id ${c.id}`, path: ['clients', i, 'id'] });
    seen.add(c.id);
  });
});

/** One line naming the first problem and where it is, for start-up errors and reload logs. */
export function describeSchemaError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid';
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(file)';
  return `${where}: ${issue.message}`;
}
