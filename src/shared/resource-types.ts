/**
 * The resource types this adapter serves. A trial adapter, not a general FHIR server: these are the
 * types an EHR sends for the trial, the trial records and outcomes it produces, and what research
 * and clinical clients read back. Everything else answers 404 (type not supported), as FHIR says.
 */
export const SUPPORTED_RESOURCE_TYPES = [
  'AdverseEvent',
  'AuditEvent',
  'Bundle',
  'CodeSystem',
  'ConceptMap',
  'DetectedIssue',
  'DiagnosticReport',
  'Encounter',
  'Flag',
  'Group',
  'Location',
  'Measure',
  'MeasureReport',
  'Medication',
  'MedicationAdministration',
  'MedicationRequest',
  'MedicationStatement',
  'Observation',
  'Organization',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Provenance',
  'Questionnaire',
  'QuestionnaireResponse',
  'ResearchStudy',
  'ResearchSubject',
  'Specimen',
  'StructureDefinition',
  'Subscription',
] as const;

export type SupportedResourceType = (typeof SUPPORTED_RESOURCE_TYPES)[number];

const SUPPORTED = new Set<string>(SUPPORTED_RESOURCE_TYPES);

export function isSupportedResourceType(type: string): type is SupportedResourceType {
  return SUPPORTED.has(type);
}

/** Types whose instances can never be changed or removed through the API (audit trail). */
export const IMMUTABLE_RESOURCE_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);
