/** Eligibility by the registry's laboratory and age inclusion criteria. */
import { compareToMultiple } from './exact-decimal.ts';

export type CriterionStatus = 'met' | 'not-met' | 'unknown';

export interface CriterionResult {
  id: 'age' | 'bilirubin' | 'alt' | 'ast' | 'creatinine' | 'anc';
  status: CriterionStatus;
  /** The value that decided, and the limit it was held against. */
  value?: number | undefined;
  limit?: number | undefined;
  reason: string;
}

export interface EligibilityInputs {
  ageYears: number | undefined;
  bilirubin: { value: number; uln: number | undefined } | undefined;
  alt: { value: number; uln: number | undefined } | undefined;
  ast: { value: number; uln: number | undefined } | undefined;
  creatinine: number | undefined;
  anc: number | undefined;
}

export interface Eligibility {
  status: 'eligible' | 'ineligible' | 'undetermined';
  criteria: CriterionResult[];
}

function timesUln(
  id: 'bilirubin' | 'alt' | 'ast',
  v: { value: number; uln: number | undefined } | undefined,
  factor: number,
): CriterionResult {
  if (!v) return { id, status: 'unknown', reason: 'no result' };
  if (v.uln === undefined)
    return { id, status: 'unknown', value: v.value, reason: 'the result has no reference range upper limit' };
  const limit = factor * v.uln;
  const ok = compareToMultiple(v.value, factor, v.uln) <= 0;
  return {
    id,
    status: ok ? 'met' : 'not-met',
    value: v.value,
    limit,
    reason: `${v.value} against ${factor} × ULN ${v.uln}`,
  };
}

// Registry record NCT04775173 inclusion: creatinine by age band 0–5 y 0.8, 6–10 y 1.0, 11–15 y 1.2, 16–18 y 1.5 mg/dL.
export function creatinineLimit(ageYears: number): number | undefined {
  if (ageYears < 0 || ageYears > 18) return undefined;
  if (ageYears <= 5) return 0.8;
  if (ageYears <= 10) return 1.0;
  if (ageYears <= 15) return 1.2;
  return 1.5;
}

// Registry record NCT04775173 inclusion: age 0–18; total bilirubin ≤ 1.5 × ULN; ALT and AST ≤ 2.5 × ULN
// (the result's own, age-specific reference range); creatinine by age band; ANC ≥ 1.0 x10^9/L.
// Eligible only when every criterion is known and met; one criterion not met makes the subject
// ineligible even while others are unknown (a failed inclusion criterion cannot be cured by more data).
export function assessEligibility(i: EligibilityInputs): Eligibility {
  const criteria: CriterionResult[] = [];
  if (i.ageYears === undefined) criteria.push({ id: 'age', status: 'unknown', reason: 'birth date unknown' });
  else
    criteria.push({
      id: 'age',
      status: i.ageYears >= 0 && i.ageYears <= 18 ? 'met' : 'not-met',
      value: i.ageYears,
      limit: 18,
      reason: `age ${i.ageYears} years`,
    });
  criteria.push(timesUln('bilirubin', i.bilirubin, 1.5));
  criteria.push(timesUln('alt', i.alt, 2.5));
  criteria.push(timesUln('ast', i.ast, 2.5));
  const limit = i.ageYears === undefined ? undefined : creatinineLimit(i.ageYears);
  if (i.creatinine === undefined) criteria.push({ id: 'creatinine', status: 'unknown', reason: 'no result' });
  else if (limit === undefined)
    criteria.push({
      id: 'creatinine',
      status: 'unknown',
      value: i.creatinine,
      reason: 'age unknown or outside 0–18: no limit',
    });
  else
    criteria.push({
      id: 'creatinine',
      status: i.creatinine <= limit ? 'met' : 'not-met',
      value: i.creatinine,
      limit,
      reason: `${i.creatinine} mg/dL against ${limit}`,
    });
  if (i.anc === undefined) criteria.push({ id: 'anc', status: 'unknown', reason: 'no result' });
  else
    criteria.push({
      id: 'anc',
      status: i.anc >= 1.0 ? 'met' : 'not-met',
      value: i.anc,
      limit: 1.0,
      reason: `${i.anc} x10^9/L against 1.0`,
    });
  const status = criteria.some((c) => c.status === 'not-met')
    ? 'ineligible'
    : criteria.every((c) => c.status === 'met')
      ? 'eligible'
      : 'undetermined';
  return { status, criteria };
}
