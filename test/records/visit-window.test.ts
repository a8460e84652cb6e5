import { describe, expect, it } from 'vitest';
import {
  type Candidate,
  localDayNumber,
  selectCounting,
  studyDay,
  UNSCHEDULED,
  type VisitWindow,
  visitForDay,
} from '../../src/records/visit-window.ts';

const windows: VisitWindow[] = [
  { id: 'baseline', targetDay: 0, earliestDay: -28, latestDay: 0 },
  { id: 'month-1', targetDay: 30, earliestDay: 23, latestDay: 37 },
  { id: 'month-3', targetDay: 91, earliestDay: 77, latestDay: 105 },
];

describe('visit windows', () => {
  it('counts days on the local calendar date of the sample', () => {
    expect(studyDay('2022-01-10T07:30:00+08:00', '2022-01-10')).toBe(0);
    // 2022-01-09T23:30Z is already 2022-01-10 in Chengdu: the offset the EHR sent decides.
    expect(studyDay('2022-01-10T07:30:00+08:00', '2022-01-09')).toBe(1);
    expect(studyDay('2022-02-09', '2022-01-10')).toBe(30);
    expect(studyDay('garbage', '2022-01-10')).toBeUndefined();
    expect(localDayNumber('1970-01-02')).toBe(1);
  });

  it.each([
    [-29, UNSCHEDULED],
    [-28, 'baseline'],
    [0, 'baseline'],
    [1, UNSCHEDULED],
    [23, 'month-1'],
    [37, 'month-1'],
    [38, UNSCHEDULED],
    [91, 'month-3'],
    [106, UNSCHEDULED],
  ])('day %i is %s', (day, visit) => {
    expect(visitForDay(day, windows)).toBe(visit);
  });

  it('prefers the nearest target where windows overlap', () => {
    const overlapping: VisitWindow[] = [
      { id: 'a', targetDay: 10, earliestDay: 0, latestDay: 20 },
      { id: 'b', targetDay: 16, earliestDay: 12, latestDay: 30 },
    ];
    expect(visitForDay(12, overlapping)).toBe('a');
    expect(visitForDay(14, overlapping)).toBe('b');
    expect(visitForDay(13, overlapping)).toBe('a');
  });

  const c = (key: string, day: number, effective: string): Candidate => ({ key, day, effective });

  it('counts the value closest to the target day, the earlier on a tie', () => {
    const w = windows[1] as VisitWindow;
    expect(selectCounting([c('a', 25, '2022-02-04'), c('b', 31, '2022-02-10')], w, 'closest-to-target')?.key).toBe('b');
    expect(
      selectCounting([c('late', 32, '2022-02-11'), c('early', 28, '2022-02-07')], w, 'closest-to-target')?.key,
    ).toBe('early');
    expect(selectCounting([], w, 'closest-to-target')).toBeUndefined();
  });

  it('counts the latest value on or before treatment start for baseline', () => {
    const w = windows[0] as VisitWindow;
    const picked = selectCounting(
      [
        c('old', -20, '2021-12-21T08:00:00Z'),
        c('recent', -2, '2022-01-08T08:00:00Z'),
        c('same-day', 0, '2022-01-10T06:00:00Z'),
      ],
      w,
      'latest-before-start',
    );
    expect(picked?.key).toBe('same-day');
  });
});
