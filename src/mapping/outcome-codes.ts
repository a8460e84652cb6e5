/**
 * The vocabulary of computed outcomes: the codes of the project's CodeSystem trial-outcomes
 * (published in profiles/ by the profile build), their units and what they mean.
 */
import { PROJECT_BASE } from '../records/trial-extensions.ts';

export const OUTCOME_SYSTEM = `${PROJECT_BASE}/CodeSystem/trial-outcomes`;

export interface OutcomeCodeDef {
  code: string;
  display: string;
  /** UCUM unit of a quantity outcome; undefined for a category. */
  unit?: string;
  /** Categories the outcome takes, when it is coded. */
  categories?: readonly { code: string; display: string }[];
}

export const VOLUME_CATEGORIES = [
  { code: 'further-growth', display: 'Further growth (increase of 10% or more)' },
  { code: 'no-change', display: 'No change (less than 10% up and less than 10% down)' },
  { code: 'partial-involution', display: 'Partial involution (decrease of 10% or more and under 75%)' },
  {
    code: 'nearly-complete-involution',
    display: 'Nearly complete involution (decrease of 75% or more and under 100%)',
  },
  { code: 'complete-involution', display: 'Complete involution (100%)' },
] as const;

export const OUTCOME_CODES: readonly OutcomeCodeDef[] = [
  { code: 'volume-percent-change', display: 'Lesion volume, percent change from baseline', unit: '%' },
  { code: 'volume-response', display: 'KHE volume response category', categories: VOLUME_CATEGORIES },
  { code: 'platelet-change', display: 'Platelet count, change from baseline', unit: '10*9/L' },
  { code: 'platelet-percent-change', display: 'Platelet count, percent change from baseline', unit: '%' },
  { code: 'fibrinogen-change', display: 'Fibrinogen, change from baseline', unit: 'g/L' },
  { code: 'fibrinogen-percent-change', display: 'Fibrinogen, percent change from baseline', unit: '%' },
  {
    code: 'km-response',
    display: 'Kasabach-Merritt haematological response',
    categories: [
      { code: 'response', display: 'Response' },
      { code: 'no-response', display: 'No response' },
    ],
  },
  {
    code: 'trough-status',
    display: 'Sirolimus trough against the arm target',
    categories: [
      { code: 'below', display: 'Below target' },
      { code: 'in-range', display: 'In target range' },
      { code: 'above', display: 'Above target' },
    ],
  },
  { code: 'time-in-range', display: 'Sirolimus time in therapeutic range (Rosendaal)', unit: '%' },
  { code: 'troughs-in-range', display: 'Share of sirolimus troughs in target', unit: '%' },
  {
    code: 'dose-estimate',
    display: 'Proposed sirolimus dose (proportional; to be confirmed by a clinician)',
    unit: 'mg',
  },
  { code: 'pedsql-total', display: 'PedsQL 4.0 total scale score', unit: '1' },
  { code: 'pedsql-physical', display: 'PedsQL 4.0 physical functioning score', unit: '1' },
  { code: 'pedsql-psychosocial', display: 'PedsQL 4.0 psychosocial health summary score', unit: '1' },
  { code: 'pedsql-scale', display: 'PedsQL 4.0 scale score (scale in component)', unit: '1' },
  { code: 'msk-score', display: 'Musculoskeletal complication score (1-4)', unit: '1' },
  { code: 'msk-change', display: 'Musculoskeletal complication score, change from baseline', unit: '1' },
  {
    code: 'eligibility',
    display: 'Eligibility by the inclusion criteria',
    categories: [
      { code: 'eligible', display: 'Eligible' },
      { code: 'ineligible', display: 'Ineligible' },
      { code: 'undetermined', display: 'Not yet determined' },
    ],
  },
  {
    code: 'visit-compliance',
    display: 'Visit compliance',
    categories: [
      { code: 'done', display: 'Done' },
      { code: 'due', display: 'Due (window open)' },
      { code: 'overdue', display: 'Overdue (window closed, data missing)' },
      { code: 'not-yet-due', display: 'Not yet due' },
    ],
  },
  { code: 'ae-worst-grade', display: 'Worst CTCAE grade of the subject’s adverse events', unit: '1' },
];

export function outcomeCodeDef(code: string): OutcomeCodeDef | undefined {
  return OUTCOME_CODES.find((c) => c.code === code);
}
