/**
 * Who an EHR user is to the trial: the trial role given to their `fhirUser` in TRIAL_USERS, or by a
 * PractitionerRole stored in the adapter whose practitioner is that user and whose code is a trial
 * role (how coordinators declare staff, blinded staff included, without a restart).
 */
import type { PractitionerRole } from '@medplum/fhirtypes';
import type { Queryable } from '../store/db.ts';
import { readByReference } from '../store/outcome-store.ts';
import { TRIAL_ROLE_SYSTEM, TRIAL_ROLES, type TrialRole, type TrialUser } from './ehr-config.ts';

/** `https://ehr.example/fhir/Practitioner/7` and `Practitioner/7` name the same user. */
export function relativeReference(fhirUser: string): string {
  const m =
    /(?:^|\/)((?:Practitioner|PractitionerRole|Patient|RelatedPerson|Person)\/[^/?#]+)(?:\/_history\/[^/]+)?$/.exec(
      fhirUser,
    );
  return m ? (m[1] as string) : fhirUser;
}

/** A blinded declaration wins over any other role the same user has: blinding fails safe. */
function strongest(roles: readonly TrialRole[]): TrialRole | undefined {
  if (roles.includes('blinded-clinician')) return 'blinded-clinician';
  if (roles.includes('coordinator')) return 'coordinator';
  return roles.includes('clinician') ? 'clinician' : undefined;
}

export class TrialRoster {
  readonly #users: readonly TrialUser[];
  readonly #db: Queryable;

  constructor(users: readonly TrialUser[], db: Queryable) {
    this.#users = users;
    this.#db = db;
  }

  async roleOf(fhirUser: string | undefined): Promise<TrialRole | undefined> {
    if (!fhirUser) return undefined;
    const rel = relativeReference(fhirUser);
    const listed = this.#users.filter((u) => u.fhirUser === fhirUser || relativeReference(u.fhirUser) === rel);
    const stored = (
      await readByReference(this.#db, ['PractitionerRole'], 'practitioner', [...new Set([fhirUser, rel])])
    )
      .map((r) => JSON.parse(r.content) as PractitionerRole)
      .filter((pr) => pr.active !== false);
    const fromResources = stored.flatMap((pr) =>
      (pr.code ?? []).flatMap((cc) =>
        (cc.coding ?? [])
          .filter((c) => c.system === TRIAL_ROLE_SYSTEM && (TRIAL_ROLES as readonly string[]).includes(c.code ?? ''))
          .map((c) => c.code as TrialRole),
      ),
    );
    return strongest([...listed.map((u) => u.trialRole), ...fromResources]);
  }
}
