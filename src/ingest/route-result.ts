/**
 * The per-result decision of a hospital-wide feed: keep it only if it belongs to an enrolled
 * subject and (for results) a study measure uses its code. Pure and allocation-light: it runs for
 * every result the hospital sends, before anything is validated or stored.
 */
import type { Observation, Reference, Resource } from '@medplum/fhirtypes';
import { normaliseReference } from '../fhir/search/index-values.ts';
import type { Enrollment, EnrollmentIndex } from './enrollment-index.ts';
import type { MeasureRef, RoutingTable } from './routing-table.ts';

export type RouteDecision =
  | { retain: true; enrollments: readonly Enrollment[]; measures: readonly MeasureRef[] }
  | { retain: false; outcome: 'not-enrolled' | 'not-relevant'; reason: string }
  | { retain: false; outcome: 'dead-lettered'; reason: string };

/** The resource types an EHR feed sends, and where each names its patient. */
const PATIENT_OF: Record<string, (r: Resource) => Reference | undefined> = {
  Observation: (r) => (r as Observation).subject,
  DiagnosticReport: (r) => (r as { subject?: Reference }).subject,
  QuestionnaireResponse: (r) => (r as { subject?: Reference }).subject,
  AdverseEvent: (r) => (r as { subject?: Reference }).subject,
};

export function isRoutedType(type: string): boolean {
  return type in PATIENT_OF || type === 'Patient';
}

function enrollmentsOf(ref: Reference | undefined, index: EnrollmentIndex, baseUrl: string): readonly Enrollment[] {
  if (!ref) return [];
  if (ref.reference) {
    const found = index.byPatientReference(normaliseReference(ref.reference, baseUrl));
    if (found.length > 0) return found;
  }
  if (ref.identifier?.value) return index.byPatientIdentifier(ref.identifier.system, ref.identifier.value);
  return [];
}

function patientEnrollments(patient: Resource, index: EnrollmentIndex): readonly Enrollment[] {
  if (patient.id) {
    const byId = index.byPatientReference(`Patient/${patient.id}`);
    if (byId.length > 0) return byId;
  }
  for (const i of (patient as { identifier?: { system?: string; value?: string }[] }).identifier ?? []) {
    if (!i.value) continue;
    const found = index.byPatientIdentifier(i.system, i.value);
    if (found.length > 0) return found;
  }
  return [];
}

export function routeResult(
  resource: Resource,
  index: EnrollmentIndex,
  table: RoutingTable,
  baseUrl: string,
): RouteDecision {
  const type = resource.resourceType;
  const enrollments =
    type === 'Patient'
      ? patientEnrollments(resource, index)
      : enrollmentsOf(PATIENT_OF[type]?.(resource), index, baseUrl);
  if (enrollments.length === 0) {
    return {
      retain: false,
      outcome: 'not-enrolled',
      reason: 'Not retained: the patient is not enrolled in a study this adapter serves',
    };
  }
  if (type !== 'Observation') return { retain: true, enrollments, measures: [] };
  const studies = new Set(enrollments.map((e) => e.studyId));
  const measures = table.measuresFor((resource as Observation).code?.coding).filter((m) => studies.has(m.studyId));
  if (measures.length === 0) {
    const local = table.unmappedLocalCode((resource as Observation).code?.coding);
    if (local) {
      // An enrolled subject's result in a site code nobody has mapped yet: keep it aside until
      // mappings/ is fixed, rather than losing what may be a study measure.
      return {
        retain: false,
        outcome: 'dead-lettered',
        reason: `Held for review: local code ${local.system}|${local.code} has no mapping in mappings/conceptmaps/`,
      };
    }
    return {
      retain: false,
      outcome: 'not-relevant',
      reason: "Not retained: no measure of the patient's study uses this code",
    };
  }
  return { retain: true, enrollments, measures };
}
