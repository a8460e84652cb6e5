/**
 * Role ceilings: the most a client of each role can ever be granted, whatever scopes it registered
 * or requests. Explicit type lists rather than "everything but…": a resource type added to the
 * server later is invisible to every role except admin until it is placed here deliberately.
 */
import { SUPPORTED_RESOURCE_TYPES } from '../shared/resource-types.ts';
import type { AccessContext, Role } from './access-context.ts';
import { type Permissions, permissionsFromRecord, permits } from './permissions.ts';
import { type Interaction, scopesAllow } from './scopes.ts';

const READ: readonly Interaction[] = ['read', 'search'];
// Write only: the feed reads nothing back. Conditional create and update still work (the match is
// the server's own lookup); a match is answered without the stored resource's body.
const FEED: readonly Interaction[] = ['create', 'update'];
const ALL: readonly Interaction[] = ['create', 'read', 'update', 'delete', 'search'];

const readAll = (types: readonly string[]): Record<string, readonly Interaction[]> =>
  Object.fromEntries(types.map((t) => [t, READ]));

/** Trial data and the definitions needed to interpret it: every served type but the audit trail and Subscriptions. */
export const TRIAL_RESOURCE_TYPES: readonly string[] = SUPPORTED_RESOURCE_TYPES.filter(
  (t) => t !== 'AuditEvent' && t !== 'Subscription',
);

export const ROLE_CEILINGS: Readonly<Record<Role, Readonly<Record<string, readonly Interaction[]>>>> = {
  // What an EHR interface engine pushes (lab results, questionnaires, adverse events, demographics),
  // alone or in batch/transaction Bundles, which are authorised entry by entry. Not a Bundle
  // resource: a stored collection would hold results the ingest gate never saw (issue 17).
  'ehr-feed': {
    Observation: FEED,
    DiagnosticReport: FEED,
    QuestionnaireResponse: FEED,
    AdverseEvent: FEED,
    Patient: FEED,
  },
  research: readAll(TRIAL_RESOURCE_TYPES),
  // Blinded: the masking layer (masking.ts) strips arms and hides arm-revealing resources on top of
  // this. No medication types at all: doses and drug levels reveal the arm.
  'outcome-assessor': readAll([
    'Observation',
    'DiagnosticReport',
    'MeasureReport',
    'Measure',
    'ResearchSubject',
    'ResearchStudy',
  ]),
  clinician: readAll([
    'Patient',
    'ResearchSubject',
    'ResearchStudy',
    'Observation',
    'DiagnosticReport',
    'Flag',
    'DetectedIssue',
    'AdverseEvent',
    'MeasureReport',
    'Measure',
    'QuestionnaireResponse',
    'Questionnaire',
    'Medication',
    'MedicationRequest',
    'MedicationAdministration',
    'MedicationStatement',
  ]),
  // Study definition, enrollment, operations and AuditEvent search. AuditEvent stays unwritable by
  // clients because the FHIR layer refuses it for everyone, not because of this ceiling.
  admin: { '*': ALL },
};

const CEILINGS: Readonly<Record<Role, Permissions>> = {
  'ehr-feed': permissionsFromRecord(ROLE_CEILINGS['ehr-feed']),
  research: permissionsFromRecord(ROLE_CEILINGS.research),
  'outcome-assessor': permissionsFromRecord(ROLE_CEILINGS['outcome-assessor']),
  clinician: permissionsFromRecord(ROLE_CEILINGS.clinician),
  admin: permissionsFromRecord(ROLE_CEILINGS.admin),
};

export function roleCeiling(role: Role): Permissions {
  return CEILINGS[role];
}

export function roleAllows(role: Role, resourceType: string, interaction: Interaction): boolean {
  return permits(CEILINGS[role], resourceType, interaction);
}

/**
 * Role and scopes together. Issued tokens are already narrowed to the ceiling, but external IdP
 * tokens are not, and a role's ceiling may shrink while tokens are live: check both every time.
 */
export function accessAllows(access: AccessContext, resourceType: string, interaction: Interaction): boolean {
  return roleAllows(access.role, resourceType, interaction) && scopesAllow(access.scopes, resourceType, interaction);
}
