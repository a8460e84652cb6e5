import { describe, expect, it } from 'vitest';
import {
  assessEligibility,
  type CriterionInput,
  type EligibilityInputs,
} from '../../../src/outcomes/rules/eligibility.ts';

const uln = (id: string, factor: number, value: number | undefined, u: number | undefined): CriterionInput => ({
  id,
  comparator: '<=',
  limit: { kind: 'uln', factor },
  result: value === undefined ? undefined : { value, uln: u },
  unit: 'U/L',
});
const creatinine = (value: number | undefined): CriterionInput => ({
  id: 'creatinine',
  comparator: '<=',
  limit: {
    kind: 'age-band',
    unit: 'mg/dL',
    bands: [
      { minYears: 0, maxYears: 5, limit: 0.8, shown: '0.8' },
      { minYears: 6, maxYears: 10, limit: 1.0, shown: '1' },
      { minYears: 11, maxYears: 15, limit: 1.2, shown: '1.2' },
      { minYears: 16, maxYears: 18, limit: 1.5, shown: '1.5' },
    ],
  },
  result: value === undefined ? undefined : { value, uln: undefined },
  unit: 'mg/dL',
});
const anc = (value: number | undefined): CriterionInput => ({
  id: 'anc',
  comparator: '>=',
  limit: { kind: 'absolute', limit: 1.0, shown: '1.0', unit: '10*9/L' },
  result: value === undefined ? undefined : { value, uln: undefined },
  unit: '10*9/L',
});

/** The registry's inclusion criteria as NCT04775173's study.json declares them. */
function inputs(o: Partial<Record<'ageYears' | 'bil' | 'alt' | 'ast' | 'cre' | 'anc', number | undefined>> = {}) {
  const v = { ageYears: 4, bil: 1.0, alt: 40, ast: 50, cre: 0.5, anc: 1.5, ...o };
  return {
    ageYears: v.ageYears,
    age: { minYears: 0, maxYears: 18 },
    criteria: [
      uln('bilirubin', 1.5, v.bil, 1.2),
      uln('alt', 2.5, v.alt, 40),
      uln('ast', 2.5, v.ast, 45),
      creatinine(v.cre),
      anc(v.anc),
    ],
  } satisfies EligibilityInputs;
}

const criterion = (i: EligibilityInputs, id: string) => assessEligibility(i).criteria.find((c) => c.id === id);

describe('eligibility by declared inclusion criteria (registry record NCT04775173 as declared)', () => {
  it('is eligible only when every criterion is known and met', () => {
    expect(assessEligibility(inputs()).status).toBe('eligible');
  });
  it.each([
    ['bilirubin exactly 1.5 × ULN', { bil: 1.8 }, 'bilirubin', 'met'],
    ['bilirubin above 1.5 × ULN', { bil: 1.81 }, 'bilirubin', 'not-met'],
    ['ALT exactly 2.5 × ULN', { alt: 100 }, 'alt', 'met'],
    ['ALT above 2.5 × ULN', { alt: 100.1 }, 'alt', 'not-met'],
    ['AST without a result', { ast: undefined }, 'ast', 'unknown'],
    ['creatinine at the 0–5 y limit', { cre: 0.8 }, 'creatinine', 'met'],
    ['creatinine above the 0–5 y limit', { cre: 0.81 }, 'creatinine', 'not-met'],
    ['creatinine 0.9 at age 7 (limit 1.0)', { ageYears: 7, cre: 0.9 }, 'creatinine', 'met'],
    ['creatinine 1.3 at age 16 (limit 1.5)', { ageYears: 16, cre: 1.3 }, 'creatinine', 'met'],
    ['creatinine without age', { ageYears: undefined, cre: 0.5 }, 'creatinine', 'unknown'],
    ['ANC 1.0', { anc: 1.0 }, 'anc', 'met'],
    ['ANC 0.99', { anc: 0.99 }, 'anc', 'not-met'],
    ['age 19', { ageYears: 19 }, 'age', 'not-met'],
    ['age unknown', { ageYears: undefined }, 'age', 'unknown'],
  ])('%s', (_n, change, id, expected) => {
    expect(criterion(inputs(change), id)?.status).toBe(expected);
  });
  it('explains each decision as the published component does', () => {
    expect(criterion(inputs({ anc: 0.8 }), 'anc')?.reason).toBe('0.8 x10^9/L against 1.0');
    expect(criterion(inputs({ ageYears: 7, cre: 0.9 }), 'creatinine')?.reason).toBe('0.9 mg/dL against 1');
    expect(criterion(inputs({ ageYears: 19 }), 'creatinine')?.reason).toBe('age unknown or outside 0–18: no limit');
    const noUln = { ...inputs(), criteria: [uln('alt', 2.5, 30, undefined)] };
    expect(criterion(noUln, 'alt')?.reason).toBe('the result has no reference range upper limit');
  });
  it('is ineligible once one criterion fails, undetermined while one is unknown', () => {
    expect(assessEligibility(inputs({ anc: 0.5 })).status).toBe('ineligible');
    expect(assessEligibility(inputs({ anc: undefined })).status).toBe('undetermined');
    expect(assessEligibility(inputs({ anc: 0.5, alt: undefined })).status).toBe('ineligible');
  });
});
