/**
 * The EHRs whose SMART launches open the trial page, and the staff the trial knows by their EHR
 * identity. Both are JSON settings (SMART_EHRS, TRIAL_USERS) validated at start-up.
 */
import * as z from 'zod';

export const TRIAL_ROLES = ['clinician', 'blinded-clinician', 'coordinator'] as const;
export type TrialRole = (typeof TRIAL_ROLES)[number];

/** CodeSystem of the trial role a PractitionerRole stored in the adapter declares. */
export const TRIAL_ROLE_SYSTEM = 'https://khe-trial.example.org/fhir/CodeSystem/trial-role';

export const SmartEhrSchema = z
  .strictObject({
    /** The EHR's FHIR base: the `iss` of its launches. */
    fhirBase: z.url(),
    /** The `iss` of its OpenID Connect id_tokens. */
    issuer: z.string().min(1),
    /** The trial page's client id at that EHR (the id_token's `aud`). */
    clientId: z.string().min(1),
    jwksUrl: z.url().optional(),
    /** RFC 7662 endpoint, used when the launch gives no verifiable id_token. */
    introspection: z
      .strictObject({ url: z.url(), clientId: z.string().min(1), clientSecret: z.string().min(1) })
      .optional(),
  })
  .refine((e) => e.jwksUrl !== undefined || e.introspection !== undefined, {
    error: 'each SMART EHR needs jwksUrl (id_token) or introspection',
  });
export type SmartEhr = z.infer<typeof SmartEhrSchema>;

export const TrialUserSchema = z.strictObject({
  /** As the EHR gives it: `Practitioner/123` or an absolute URL. */
  fhirUser: z.string().min(1),
  trialRole: z.enum(TRIAL_ROLES),
});
export type TrialUser = z.infer<typeof TrialUserSchema>;

export function parseSmartEhrs(raw: string | undefined): SmartEhr[] {
  return raw ? z.array(SmartEhrSchema).parse(JSON.parse(raw)) : [];
}

export function parseTrialUsers(raw: string | undefined): TrialUser[] {
  return raw ? z.array(TrialUserSchema).parse(JSON.parse(raw)) : [];
}
