import { describe, expect, it } from 'vitest';
import { labChange } from '../../../src/outcomes/rules/lab-change.ts';
import { thresholdResponse } from '../../../src/outcomes/rules/threshold-response.ts';

/** The KMP response as NCT04775173 declares it: platelets > 100; fibrinogen > 1.5 only where low at baseline. */
function kmResponse(v: {
  platelets?: number | undefined;
  fibrinogen?: number | undefined;
  fibrinogenBaseline?: number | undefined;
}) {
  return thresholdResponse(
    [
      {
        name: 'platelet count',
        comparator: '>',
        threshold: 100,
        value: v.platelets,
        onlyIfBaselineNotMet: false,
        baseline: undefined,
      },
      {
        name: 'fibrinogen',
        comparator: '>',
        threshold: 1.5,
        value: v.fibrinogen,
        onlyIfBaselineNotMet: true,
        baseline: v.fibrinogenBaseline,
      },
    ],
    'all',
  );
}

describe('platelet and fibrinogen change from baseline', () => {
  it.each([
    [30, 150, 120, 400],
    [1.2, 0.9, -0.3, -25],
    [0, 2, 2, undefined],
  ])('%s → %s: %s absolute, %s%', (b, c, abs, pct) => {
    expect(labChange(b, c)).toEqual({ status: 'evaluable', absolute: abs, percent: pct });
  });
  it('needs both values', () => {
    expect(labChange(undefined, 3).status).toBe('not-evaluable');
    expect(labChange(3, undefined).status).toBe('not-evaluable');
  });
});

describe('Kasabach-Merritt haematological response (thresholds 100 x10^9/L, 1.5 g/L)', () => {
  it.each([
    // platelets, fibrinogen, fibrinogen at baseline, response, fibrinogen required
    [101, undefined, 2.0, true, false],
    [100, 2.0, 2.0, false, false],
    [150, 1.6, 1.0, true, true],
    [150, 1.5, 1.0, false, true],
    [150, 1.5, 1.5, false, true],
    [150, undefined, undefined, true, false],
  ])('platelets %s, fibrinogen %s (baseline %s): %s', (p, f, fb, response, _required) => {
    expect(kmResponse({ platelets: p, fibrinogen: f, fibrinogenBaseline: fb })).toEqual({
      status: 'evaluable',
      met: response,
    });
  });
  it('is not evaluable without platelets, or without fibrinogen where it was low at baseline', () => {
    expect(kmResponse({ platelets: undefined, fibrinogen: 2, fibrinogenBaseline: 1 })).toEqual({
      status: 'not-evaluable',
      reason: 'no platelet count at this visit',
    });
    expect(kmResponse({ platelets: 150, fibrinogen: undefined, fibrinogenBaseline: 1 })).toEqual({
      status: 'not-evaluable',
      reason: 'fibrinogen was low at baseline and has no value at this visit',
    });
  });
  it('with "any", one met condition decides even while another has no value', () => {
    const c = (value: number | undefined, threshold: number) =>
      ({ name: 'x', comparator: '>=', threshold, value, onlyIfBaselineNotMet: false, baseline: undefined }) as const;
    expect(thresholdResponse([c(undefined, 1), c(5, 4)], 'any')).toEqual({ status: 'evaluable', met: true });
    expect(thresholdResponse([c(undefined, 1), c(3, 4)], 'any').status).toBe('not-evaluable');
    expect(thresholdResponse([c(0, 1), c(3, 4)], 'any')).toEqual({ status: 'evaluable', met: false });
  });
});
