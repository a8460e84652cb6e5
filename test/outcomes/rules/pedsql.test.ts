import { describe, expect, it } from 'vitest';
import { ageInMonths, formForAge, scorePedsql, transformItem } from '../../../src/outcomes/rules/pedsql.ts';

const items = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i + 1}`);
const SCALES = [
  { id: 'PF', items: items('PF', 8) },
  { id: 'EF', items: items('EF', 5) },
  { id: 'SF', items: items('SF', 5) },
  { id: 'SC', items: items('SC', 5) },
];
const SUMMARIES = { physical: ['PF'], psychosocial: ['EF', 'SF', 'SC'] };
const answers = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe('PedsQL 4.0 scoring (pedsql.org scoring instructions)', () => {
  it.each([
    [0, 100],
    [1, 75],
    [2, 50],
    [3, 25],
    [4, 0],
    [5, undefined],
    [1.5, undefined],
  ])('item %s → %s', (raw, t) => {
    expect(transformItem(raw)).toBe(t);
  });

  it('scale = mean of answered items; summaries and total pool items, not scale means', () => {
    const a: Record<string, number> = {};
    for (const i of items('PF', 8)) a[i] = 0; // 100 each
    a.EF1 = 4; // 0
    for (const i of items('SF', 5)) a[i] = 2; // 50 each
    for (const i of items('SC', 5)) a[i] = 1; // 75 each
    const s = scorePedsql(SCALES, SUMMARIES, answers(a));
    expect(s.scales).toEqual({ PF: 100, EF: undefined, SF: 50, SC: 75 });
    // psychosocial: (0 + 5×50 + 5×75) / 11 items answered = 56.82, not the mean of scale means
    expect(s.summaries).toEqual({ physical: 100, psychosocial: 56.82 });
    expect(s.total).toBe(Math.round(((800 + 0 + 250 + 375) / 19) * 100) / 100);
  });

  it.each([
    ['4 of 8 answered (half missing): computed', 4, 8, 50],
    ['3 of 8 answered (more than half missing): not computed', 3, 8, undefined],
    ['3 of 5 answered: computed', 3, 5, 50],
    ['2 of 5 answered: not computed', 2, 5, undefined],
  ])('%s', (_n, answered, size, expected) => {
    const a: Record<string, number> = {};
    for (const i of items('X', size).slice(0, answered)) a[i] = 2;
    const s = scorePedsql([{ id: 'X', items: items('X', size) }], {}, answers(a));
    expect(s.scales.X).toBe(expected);
  });

  it('picks the form by age at the visit', () => {
    const bands = [
      { id: 'infant-1-12', min: 1, max: 12 },
      { id: 'infant-13-24', min: 13, max: 24 },
      { id: 'toddler', min: 25, max: 59 },
    ];
    expect(ageInMonths('2021-05-20', '2022-05-19')).toBe(11);
    expect(ageInMonths('2021-05-20', '2022-05-20')).toBe(12);
    expect(formForAge(bands, 12)).toBe('infant-1-12');
    expect(formForAge(bands, 13)).toBe('infant-13-24');
    expect(formForAge(bands, 30)).toBe('toddler');
    expect(formForAge(bands, 0)).toBeUndefined();
  });
});
