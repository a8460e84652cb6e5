/**
 * The per-result decision of a hospital-wide feed: keep it only if it belongs to an enrolled
 * subject and (for results) a study measure uses its code. Pure and allocation-light: it runs for
 * every result the hospital sends, before anything is validated or stored.
 */
import type {
  AdverseEvent,
  DiagnosticReport,
  Observation,
  QuestionnaireResponse,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import type { Enrollment, RetainedRoute } from '../records/enrollment.ts';
import { normaliseReference } from '../shared/index-rows.ts';
import type { EnrollmentIndex } from './enrollment-index.ts';
import type { RoutingTable } from './routing-table.ts';

export type RouteDecision =
  | ({ retain: true } & RetainedRoute)
  | {
      retain: false;
      outcome: 'not-enrolled' | 'not-relevant';
      reason: string;
      /**
       * A DiagnosticReport of an enrolled subject whose own code no measure uses: it is kept after
       * all if one of its results is (the ingest session checks its result references).
       */
      reportOf?: readonly Enrollment[];
    }
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
  const studies = new Set(enrollments.map((e) => e.studyId));
  if (type === 'QuestionnaireResponse')
    return routeResponse(resource as QuestionnaireResponse, enrollments, table, studies);
  if (type === 'AdverseEvent') {
    if ((resource as AdverseEvent).actuality === 'potential') {
      return {
        retain: false,
        outcome: 'not-relevant',
        reason: 'Not retained: a potential adverse event (near miss) is not a trial adverse event',
      };
    }
    return { retain: true, enrollments, measures: [] };
  }
  if (type === 'DiagnosticReport') {
    const measures = table
      .measuresFor((resource as DiagnosticReport).code?.coding)
      .filter((m) => studies.has(m.studyId));
    if (measures.length > 0) return { retain: true, enrollments, measures: [] };
    return {
      retain: false,
      outcome: 'not-relevant',
      reason: "Not retained: the report's code and results are not measures of the patient's study",
      reportOf: enrollments,
    };
  }
  if (type !== 'Observation') return { retain: true, enrollments, measures: [] };
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

function routeResponse(
  qr: QuestionnaireResponse,
  enrollments: readonly Enrollment[],
  table: RoutingTable,
  studies: ReadonlySet<string>,
): RouteDecision {
  const forms = table.formsFor(qr.questionnaire).filter((f) => studies.has(f.studyId));
  if (forms.length > 0) return { retain: true, enrollments, measures: [], forms };
  // An enrolled subject's form that no study names: keep it aside until mappings/ knows the form.
  return {
    retain: false,
    outcome: 'dead-lettered',
    reason: qr.questionnaire
      ? `Held for review: Questionnaire ${qr.questionnaire} is not a form of the patient's study (mappings/questionnaires/)`
      : 'Held for review: the QuestionnaireResponse does not say which Questionnaire it answers',
  };
}
