import { describe, expect, it } from 'vitest';
import { assessEligibility, creatinineLimit, type EligibilityInputs } from '../../../src/outcomes/rules/eligibility.ts';

const ok: EligibilityInputs = {
  ageYears: 4,
  bilirubin: { value: 1.0, uln: 1.2 },
  alt: { value: 40, uln: 40 },
  ast: { value: 50, uln: 45 },
  creatinine: 0.5,
  anc: 1.5,
};

const status = (i: EligibilityInputs, id: string) => assessEligibility(i).criteria.find((c) => c.id === id)?.status;

describe('eligibility by the inclusion criteria (registry record)', () => {
  it('is eligible only when every criterion is known and met', () => {
    expect(assessEligibility(ok).status).toBe('eligible');
  });
  it.each([
    ['bilirubin exactly 1.5 × ULN', { bilirubin: { value: 1.8, uln: 1.2 } }, 'bilirubin', 'met'],
    ['bilirubin above 1.5 × ULN', { bilirubin: { value: 1.81, uln: 1.2 } }, 'bilirubin', 'not-met'],
    ['bilirubin without a reference range', { bilirubin: { value: 1.0, uln: undefined } }, 'bilirubin', 'unknown'],
    ['ALT exactly 2.5 × ULN', { alt: { value: 100, uln: 40 } }, 'alt', 'met'],
    ['ALT above 2.5 × ULN', { alt: { value: 100.1, uln: 40 } }, 'alt', 'not-met'],
    ['ALT without a reference range', { alt: { value: 30, uln: undefined } }, 'alt', 'unknown'],
    ['AST above 2.5 × ULN', { ast: { value: 113, uln: 45 } }, 'ast', 'not-met'],
    ['AST without a result', { ast: undefined }, 'ast', 'unknown'],
    ['creatinine at the 0–5 y limit', { creatinine: 0.8 }, 'creatinine', 'met'],
    ['creatinine above the 0–5 y limit', { creatinine: 0.81 }, 'creatinine', 'not-met'],
    ['creatinine 0.9 at age 7 (limit 1.0)', { ageYears: 7, creatinine: 0.9 }, 'creatinine', 'met'],
    ['creatinine without age', { ageYears: undefined, creatinine: 0.5 }, 'creatinine', 'unknown'],
    ['ANC 1.0', { anc: 1.0 }, 'anc', 'met'],
    ['ANC 0.99', { anc: 0.99 }, 'anc', 'not-met'],
    ['age 19', { ageYears: 19 }, 'age', 'not-met'],
    ['age unknown', { ageYears: undefined }, 'age', 'unknown'],
  ])('%s', (_n, change, id, expected) => {
    expect(status({ ...ok, ...change } as EligibilityInputs, id)).toBe(expected);
  });
  it('is ineligible once one criterion fails, undetermined while one is unknown', () => {
    expect(assessEligibility({ ...ok, anc: 0.5 }).status).toBe('ineligible');
    expect(assessEligibility({ ...ok, anc: undefined }).status).toBe('undetermined');
    expect(assessEligibility({ ...ok, anc: 0.5, alt: undefined }).status).toBe('ineligible');
  });
  it.each([
    [0, 0.8],
    [5, 0.8],
    [6, 1.0],
    [10, 1.0],
    [11, 1.2],
    [15, 1.2],
    [16, 1.5],
    [18, 1.5],
    [19, undefined],
  ])('creatinine limit at %s years: %s mg/dL', (age, limit) => {
    expect(creatinineLimit(age)).toBe(limit);
  });
});
