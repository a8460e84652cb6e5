import { describe, expect, it } from 'vitest';
import { summariseAdverseEvents } from '../../../src/outcomes/rules/adverse-event-summary.ts';
import {
  aminotransferaseIncreased,
  neutrophilCountDecreased,
  plateletCountDecreased,
} from '../../../src/outcomes/rules/lab-adverse-events.ts';
import { mskChange } from '../../../src/outcomes/rules/msk.ts';
import { visitState } from '../../../src/outcomes/rules/visit-compliance.ts';

describe('CTCAE v4.03 grades suggested from laboratory results', () => {
  it.each([
    [150, 150, undefined],
    [140, 150, 1],
    [75, 150, 1],
    [74.9, 150, 2],
    [50, 150, 2],
    [49.9, 150, 3],
    [25, 150, 3],
    [24.9, 150, 4],
    [140, undefined, undefined],
  ])('platelets %s (LLN %s): grade %s', (v, lln, g) => {
    expect(plateletCountDecreased(v, lln)?.grade).toBe(g);
  });
  it.each([
    [1.6, 1.8, 1],
    [1.5, 1.8, 1],
    [1.49, 1.8, 2],
    [1.0, 1.8, 2],
    [0.99, 1.8, 3],
    [0.5, 1.8, 3],
    [0.49, 1.8, 4],
  ])('ANC %s (LLN %s): grade %s', (v, lln, g) => {
    expect(neutrophilCountDecreased(v, lln)?.grade).toBe(g);
  });
  it.each([
    [40, 40, undefined],
    [41, 40, 1],
    [120, 40, 1],
    [121, 40, 2],
    [200, 40, 2],
    [201, 40, 3],
    [800, 40, 3],
    [801, 40, 4],
    [500, undefined, undefined],
  ])('ALT %s (ULN %s): grade %s', (v, uln, g) => {
    expect(aminotransferaseIncreased('alanine-aminotransferase-increased', v, uln)?.grade).toBe(g);
  });
});

describe('adverse events per subject', () => {
  it('counts by term, worst grade, causality and dose actions', () => {
    const s = summariseAdverseEvents([
      { term: 'Mucositis oral', grade: 2, causality: 'probable', action: 'dose reduced' },
      { term: 'Mucositis oral', grade: 3, causality: 'definite', action: 'interrupted' },
      { term: 'Infection', grade: 1, causality: undefined, action: 'drug withdrawn' },
    ]);
    expect(s).toEqual({
      events: 3,
      byTerm: { 'Mucositis oral': 2, Infection: 1 },
      worstGrade: 3,
      byCausality: { probable: 1, definite: 1, 'not-assessed': 1 },
      doseReductions: 1,
      interruptions: 1,
      cessations: 1,
    });
  });
});

describe('musculoskeletal score and visit compliance', () => {
  it('changes from baseline', () => {
    expect(mskChange(3, 1)).toEqual({ status: 'evaluable', change: -2 });
    expect(mskChange(undefined, 1).status).toBe('not-evaluable');
    expect(mskChange(2, 5).status).toBe('not-evaluable');
  });
  it.each([
    [70, false, 'not-yet-due'],
    [77, false, 'due'],
    [105, false, 'due'],
    [106, false, 'overdue'],
    [106, true, 'done'],
  ])('month-3 window 77–105, day %s, data %s: %s', (today, has, state) => {
    expect(visitState({ id: 'month-3', earliestDay: 77, latestDay: 105 }, today, has)).toBe(state);
  });
});
