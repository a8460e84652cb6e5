import { describe, expect, it } from 'vitest';
import { volumeResponse } from '../../../src/outcomes/rules/volume-response.ts';

// The registry categories as mappings/studies/NCT04775173/study.json declares them (listing order, not checking order).
const REGISTRY = [
  { code: 'further-growth', when: { comparator: '>=', value: 10 } },
  { code: 'no-change' },
  { code: 'partial-involution', when: { comparator: '<=', value: -10 } },
  { code: 'nearly-complete-involution', when: { comparator: '<=', value: -75 } },
  { code: 'complete-involution', when: { comparator: '=', value: -100 } },
] as const;

describe('KHE volume response (registry categories, exact boundaries)', () => {
  it.each([
    // baseline, current, category, percent change
    [100, 110, 'further-growth', 10],
    [100, 109.99, 'no-change', 9.99],
    [100, 90.01, 'no-change', -9.99],
    [100, 90, 'partial-involution', -10],
    [12.3, 11.07, 'partial-involution', -10],
    [100, 25.01, 'partial-involution', -74.99],
    [100, 25, 'nearly-complete-involution', -75],
    [0.3, 0.075, 'nearly-complete-involution', -75],
    [100, 0.01, 'nearly-complete-involution', -99.99],
    [100, 0, 'complete-involution', -100],
    [33.3, 36.63, 'further-growth', 10],
    [50, 50, 'no-change', 0],
    [10, 250, 'further-growth', 2400],
  ])('baseline %s mL, now %s mL: %s (%s%)', (b, c, category, pct) => {
    const r = volumeResponse(b, c, REGISTRY);
    expect(r).toEqual({ status: 'evaluable', category, percentChange: pct });
  });

  it('is exact where binary floating point is not (11.07 / 12.3 = 0.8999999…)', () => {
    expect((11.07 - 12.3) / 12.3).not.toBe(-0.1);
    expect(volumeResponse(12.3, 11.07, REGISTRY)).toMatchObject({ category: 'partial-involution' });
  });

  it.each([
    [undefined, 10, 'no baseline MRI volume'],
    [10, undefined, 'no MRI volume at this visit'],
    [0, 10, 'baseline volume is zero'],
  ])('not evaluable: baseline %s, now %s', (b, c, reason) => {
    const r = volumeResponse(b, c, REGISTRY);
    expect(r.status).toBe('not-evaluable');
    expect(r.status === 'not-evaluable' && r.reason).toContain(reason);
  });
});
