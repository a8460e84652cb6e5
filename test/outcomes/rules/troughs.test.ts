import { describe, expect, it } from 'vitest';
import { doseEstimate } from '../../../src/outcomes/rules/dose-estimate.ts';
import { timeInRange } from '../../../src/outcomes/rules/time-in-range.ts';
import { classifyTrough, shareInRange } from '../../../src/outcomes/rules/trough.ts';

const LOW = { low: 5, high: 10 };
const REGULAR = { low: 10, high: 15 };

describe('trough against the arm target (bounds inclusive)', () => {
  it.each([
    [4.99, LOW, 'below'],
    [5, LOW, 'in-range'],
    [10, LOW, 'in-range'],
    [10.01, LOW, 'above'],
    [10, REGULAR, 'in-range'],
    [9.9, REGULAR, 'below'],
    [15.1, REGULAR, 'above'],
  ])('%s ng/mL in %o: %s', (v, t, c) => {
    expect(classifyTrough(v, t)).toBe(c);
  });
  it('share in range', () => {
    expect(shareInRange([4, 6, 8, 12], LOW)).toBe(50);
    expect(shareInRange([], LOW)).toBeUndefined();
  });
});

describe('time in therapeutic range (Rosendaal linear interpolation)', () => {
  it.each([
    [
      'all in range',
      [
        [0, 6],
        [10, 8],
      ],
      100,
    ],
    [
      'all below',
      [
        [0, 2],
        [10, 4],
      ],
      0,
    ],
    [
      'crossing the low bound: 4→8 over 14 d is in range from 5',
      [
        [0, 4],
        [14, 8],
      ],
      75,
    ],
    [
      'crossing both bounds: 2→14 spends 5..10 = 5/12 of the way in range',
      [
        [0, 2],
        [12, 14],
      ],
      41.67,
    ],
    [
      'down through both bounds',
      [
        [0, 14],
        [12, 2],
      ],
      41.67,
    ],
    [
      'two intervals: 62.5%',
      [
        [0, 4],
        [14, 8],
        [28, 12],
      ],
      62.5,
    ],
    [
      'touching the bound only at an end counts as in range for that instant',
      [
        [0, 10],
        [10, 20],
      ],
      0,
    ],
  ])('%s', (_n, points, pct) => {
    const r = timeInRange(
      points.map(([t, value]) => ({ t: t as number, value: value as number })),
      LOW,
      56,
    );
    expect(r.status).toBe('evaluable');
    expect(r.status === 'evaluable' && r.percent).toBe(pct);
  });

  it('leaves out an interval longer than the maximum gap, in numerator and denominator', () => {
    const r = timeInRange(
      [
        { t: 0, value: 6 },
        { t: 10, value: 8 },
        { t: 100, value: 20 },
        { t: 110, value: 20 },
      ],
      LOW,
      56,
    );
    expect(r).toEqual({ status: 'evaluable', percent: 50, daysInRange: 10, daysObserved: 20, intervalsExcluded: 1 });
  });

  it('is not evaluable with one trough or only long gaps', () => {
    expect(timeInRange([{ t: 0, value: 6 }], LOW, 56).status).toBe('not-evaluable');
    expect(
      timeInRange(
        [
          { t: 0, value: 6 },
          { t: 90, value: 7 },
        ],
        LOW,
        56,
      ).status,
    ).toBe('not-evaluable');
  });
});

describe('dose estimate (Rapamune label: proportional, to the arm midpoint)', () => {
  const base = { trough: 4, troughDate: '2022-03-01', lastChange: '2022-02-01', target: LOW, minIntervalDays: 7 };
  it('proposes current dose × midpoint / trough', () => {
    expect(doseEstimate({ ...base, currentDose: 1 })).toEqual({
      status: 'proposed',
      dose: 1.875,
      targetConcentration: 7.5,
    });
    expect(doseEstimate({ ...base, currentDose: 2, trough: 20, target: REGULAR })).toEqual({
      status: 'proposed',
      dose: 1.25,
      targetConcentration: 12.5,
    });
  });
  it.each([
    ['no dose known', { ...base, currentDose: undefined }, 'current dose unknown'],
    ['trough in target', { ...base, currentDose: 1, trough: 7 }, 'in target'],
    ['6 days after a change', { ...base, currentDose: 1, lastChange: '2022-02-23' }, 'last dose change 6 days'],
  ])('does not propose: %s', (_n, input, reason) => {
    const r = doseEstimate(input);
    expect(r.status).toBe('not-proposed');
    expect(r.status === 'not-proposed' && r.reason).toContain(reason);
  });
  it('proposes again exactly 7 days after the change', () => {
    expect(doseEstimate({ ...base, currentDose: 1, lastChange: '2022-02-22' }).status).toBe('proposed');
  });
});
