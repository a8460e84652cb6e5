/** Canonical URLs of the trial record's links: the standard one, and the project's own. */
export const PROJECT_BASE = 'https://khe-trial.example.org/fhir';
export const EXT_RESEARCH_STUDY = 'http://hl7.org/fhir/StructureDefinition/workflow-researchStudy';
export const EXT_RESEARCH_SUBJECT = `${PROJECT_BASE}/StructureDefinition/research-subject`;
export const EXT_VISIT = `${PROJECT_BASE}/StructureDefinition/visit`;
export const EXT_ORIGINAL_VALUE = `${PROJECT_BASE}/StructureDefinition/original-value`;
export const VISIT_SYSTEM = `${PROJECT_BASE}/CodeSystem/trial-visit`;
export const MEASURE_SYSTEM = `${PROJECT_BASE}/CodeSystem/trial-measure`;
export const TRIAL_RECORD_IDENTIFIER_SYSTEM = `${PROJECT_BASE}/sid/trial-record`;
/** meta.tag telling trial records apart from the source results they derive from. */
export const TRIAL_RECORD_TAG = { system: `${PROJECT_BASE}/CodeSystem/record-kind`, code: 'trial-record' } as const;

export function isTrialRecord(r: { meta?: { tag?: { system?: string; code?: string }[] } }): boolean {
  return r.meta?.tag?.some((t) => t.system === TRIAL_RECORD_TAG.system && t.code === TRIAL_RECORD_TAG.code) ?? false;
}
/** A QuestionnaireResponse or AdverseEvent trial record points at the source it was derived from. */
export const EXT_DERIVED_FROM = `${PROJECT_BASE}/StructureDefinition/derived-from`;
/** AE Clinical Research R4 Backport (STU1): the grade and the ResearchSubject of an AdverseEvent. */
export const EXT_AE_GRADE = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade';
export const EXT_AE_RESEARCH_SUBJECT =
  'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/research-subject-ref';
export const AE_GRADE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/adverse-event-clinical-research-grades';
/** NCI CTCAE attribution, 5 levels (domain notes 4.4): unrelated … definite. */
export const CAUSALITY_SYSTEM = `${PROJECT_BASE}/CodeSystem/ctcae-attribution`;
