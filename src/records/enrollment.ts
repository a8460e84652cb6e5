/**
 * Who a kept result is for and what it measures: the enrollment (a ResearchSubject as the ingest
 * gate's index holds it) and the study measures and forms the gate matched. The gate
 * (src/ingest/route-result.ts) decides these; the trial records are derived from them.
 */

/** ResearchSubject statuses whose results the trial collects (candidates and screening: eligibility). */
export const COLLECTING_STATUSES: ReadonlySet<string> = new Set([
  'candidate',
  'eligible',
  'follow-up',
  'on-study',
  'on-study-intervention',
  'on-study-observation',
  'pending-on-study',
  'potential-candidate',
  'screening',
]);

export interface Enrollment {
  researchSubjectId: string;
  studyId: string;
  patientId: string;
  status: string;
  assignedArm: string | undefined;
  /** Treatment start (ResearchSubject.period.start). */
  start: string | undefined;
}

export interface MeasureRef {
  studyId: string;
  measureId: string;
  /** The standard code the measure is known by (local codes resolve to it). */
  canonical: { system: string; code: string };
}

export interface FormRef {
  studyId: string;
  formId: string;
  questionnaire: string;
}

/** A result the trial keeps: its enrollments, and the measures (or, for a response, the forms) it is for. */
export interface RetainedRoute {
  enrollments: readonly Enrollment[];
  measures: readonly MeasureRef[];
  /** For a QuestionnaireResponse: the study forms it answers. */
  forms?: readonly FormRef[];
}
