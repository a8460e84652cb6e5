/** Eligibility by a study's declared laboratory and age inclusion criteria. */
import { compareToMultiple } from './exact-decimal.ts';
import { meets } from './threshold-response.ts';

export type CriterionStatus = 'met' | 'not-met' | 'unknown';
type Comparator = '<' | '<=' | '>' | '>=';

export interface CriterionResult {
  id: string;
  status: CriterionStatus;
  /** The value that decided, and the limit it was held against. */
  value?: number | undefined;
  limit?: number | undefined;
  reason: string;
}

/** One limit as declared: a multiple of the result's ULN, an absolute value, or one per age band. */
export type CriterionLimit =
  | { kind: 'uln'; factor: number }
  | { kind: 'absolute'; limit: number; shown: string; unit: string }
  | {
      kind: 'age-band';
      bands: readonly { minYears: number; maxYears: number; limit: number; shown: string }[];
      unit: string;
    };

export interface CriterionInput {
  id: string;
  comparator: Comparator;
  limit: CriterionLimit;
  /** The result in the measure's unit, and its own reference range upper limit. */
  result: { value: number; uln: number | undefined } | undefined;
  /** The measure's unit, as the reasons show it. */
  unit: string;
}

export interface EligibilityInputs {
  ageYears: number | undefined;
  age?: { minYears: number; maxYears: number } | undefined;
  criteria: readonly CriterionInput[];
}

export interface Eligibility {
  status: 'eligible' | 'ineligible' | 'undetermined';
  criteria: CriterionResult[];
}

/** UCUM 10*9/L as laboratories print it (x10^9/L). */
export function unitForDisplay(unit: string): string {
  return unit.replace(/^10\*(\d+)/, 'x10^$1');
}

function timesUln(c: CriterionInput, factor: number): CriterionResult {
  const v = c.result;
  if (!v) return { id: c.id, status: 'unknown', reason: 'no result' };
  if (v.uln === undefined)
    return { id: c.id, status: 'unknown', value: v.value, reason: 'the result has no reference range upper limit' };
  const sign = compareToMultiple(v.value, factor, v.uln);
  const ok = meets(sign, c.comparator, 0);
  return {
    id: c.id,
    status: ok ? 'met' : 'not-met',
    value: v.value,
    limit: factor * v.uln,
    reason: `${v.value} against ${factor} × ULN ${v.uln}`,
  };
}

function absolute(c: CriterionInput, limit: number, shown: string, unit: string): CriterionResult {
  const v = c.result as { value: number };
  const suffix = unit === c.unit ? '' : ` ${unitForDisplay(unit)}`;
  return {
    id: c.id,
    status: meets(v.value, c.comparator, limit) ? 'met' : 'not-met',
    value: v.value,
    limit,
    reason: `${v.value} ${unitForDisplay(c.unit)} against ${shown}${suffix}`,
  };
}

function criterion(c: CriterionInput, ageYears: number | undefined): CriterionResult {
  if (c.limit.kind === 'uln') return timesUln(c, c.limit.factor);
  if (!c.result) return { id: c.id, status: 'unknown', reason: 'no result' };
  if (c.limit.kind === 'absolute') return absolute(c, c.limit.limit, c.limit.shown, c.limit.unit);
  const bands = c.limit.bands;
  const band = ageYears === undefined ? undefined : bands.find((b) => ageYears >= b.minYears && ageYears <= b.maxYears);
  if (!band) {
    const lo = Math.min(...bands.map((b) => b.minYears));
    const hi = Math.max(...bands.map((b) => b.maxYears));
    return {
      id: c.id,
      status: 'unknown',
      value: c.result.value,
      reason: `age unknown or outside ${lo}–${hi}: no limit`,
    };
  }
  return absolute(c, band.limit, band.shown, c.limit.unit);
}

// Registry record NCT04775173 inclusion (the shape its criteria take): age 0–18; total bilirubin ≤ 1.5 × ULN;
// ALT and AST ≤ 2.5 × ULN (the result's own, age-specific reference range); creatinine by age band; ANC ≥
// 1.0 x10^9/L. Eligible only when every criterion is known and met; one criterion not met makes the
// subject ineligible even while others are unknown (a failed inclusion criterion cannot be cured by more data).
export function assessEligibility(i: EligibilityInputs): Eligibility {
  const criteria: CriterionResult[] = [];
  if (i.age) {
    if (i.ageYears === undefined) criteria.push({ id: 'age', status: 'unknown', reason: 'birth date unknown' });
    else
      criteria.push({
        id: 'age',
        status: i.ageYears >= i.age.minYears && i.ageYears <= i.age.maxYears ? 'met' : 'not-met',
        value: i.ageYears,
        limit: i.age.maxYears,
        reason: `age ${i.ageYears} years`,
      });
  }
  for (const c of i.criteria) criteria.push(criterion(c, i.ageYears));
  const status = criteria.some((c) => c.status === 'not-met')
    ? 'ineligible'
    : criteria.every((c) => c.status === 'met')
      ? 'eligible'
      : 'undetermined';
  return { status, criteria };
}
