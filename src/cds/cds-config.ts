/**
 * Which EHRs may call the CDS service (CDS Hooks 2.0, security): each by issuer, with its JWKS URL
 * or its public keys inline. Configured as JSON in CDS_CLIENTS, validated at start-up.
 */
import * as z from 'zod';

const Jwk = z.looseObject({ kty: z.string() });

export const CdsClientSchema = z
  .strictObject({
    iss: z.string().min(1),
    jwksUrl: z.url().optional(),
    jwks: z.strictObject({ keys: z.array(Jwk).min(1) }).optional(),
  })
  .refine((c) => (c.jwksUrl === undefined) !== (c.jwks === undefined), {
    error: 'each CDS client needs exactly one of jwksUrl or jwks',
  });

export const CdsClientsSchema = z.array(CdsClientSchema);
export type CdsClient = z.infer<typeof CdsClientSchema>;

export function parseCdsClients(raw: string | undefined): CdsClient[] {
  if (!raw) return [];
  return CdsClientsSchema.parse(JSON.parse(raw));
}
