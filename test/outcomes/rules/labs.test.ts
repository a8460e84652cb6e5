import { describe, expect, it } from 'vitest';
import { kmResponse, labChange } from '../../../src/outcomes/rules/lab-change.ts';

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
  ])('platelets %s, fibrinogen %s (baseline %s): %s', (p, f, fb, response, required) => {
    expect(kmResponse({ platelets: p, fibrinogen: f, fibrinogenBaseline: fb }, 100, 1.5)).toEqual({
      status: 'evaluable',
      response,
      fibrinogenRequired: required,
    });
  });
  it('is not evaluable without platelets, or without fibrinogen where it was low at baseline', () => {
    expect(kmResponse({ platelets: undefined, fibrinogen: 2, fibrinogenBaseline: 1 }, 100, 1.5).status).toBe(
      'not-evaluable',
    );
    expect(kmResponse({ platelets: 150, fibrinogen: undefined, fibrinogenBaseline: 1 }, 100, 1.5).status).toBe(
      'not-evaluable',
    );
  });
});
