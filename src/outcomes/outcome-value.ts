/** What a computation yields for one subject, before it is published as FHIR. */

export type OutcomeResult =
  | { kind: 'quantity'; value: number; unit: string }
  | { kind: 'category'; code: string; display: string }
  | { kind: 'not-evaluable'; reason: string };

export interface OutcomeComponent {
  /** A code of the trial-outcomes CodeSystem, or of a criterion (eligibility) or scale (PedsQL). */
  code: string;
  display: string;
  result: OutcomeResult;
}

export interface RuleRef {
  /** Stable rule id, e.g. "volume-response". */
  id: string;
  version: string;
  /** The source the rule implements, as its one-line comment names it. */
  source: string;
}

export interface OutcomeValue {
  code: string;
  /** Visit id, or "overall" for subject-level outcomes (time in range, eligibility, worst AE grade). */
  visit: string;
  /** Tells apart several values of one code at one visit (one trough status per trough). */
  key?: string | undefined;
  result: OutcomeResult;
  components?: OutcomeComponent[] | undefined;
  /** When the outcome applies: the effective time of the deciding input. */
  effective: string | undefined;
  /** References of every input ("Observation/tr-…", "QuestionnaireResponse/…"). */
  derivedFrom: string[];
  rule: RuleRef;
  /** Reveals the arm (trough targets, doses): hidden from outcome assessors. */
  armRevealing?: boolean | undefined;
  /** A human note carried into Observation.note (e.g. "to be confirmed by a clinician"). */
  note?: string | undefined;
}

export const OVERALL = 'overall';
