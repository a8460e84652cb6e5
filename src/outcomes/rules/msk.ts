/** Musculoskeletal complication score and its change from baseline. */

export type MskChange = { status: 'evaluable'; change: number } | { status: 'not-evaluable'; reason: string };

// Registry record NCT04775173: 4-point score (1 asymptomatic/mild … 4 life-threatening) at baseline, 3, 6, 12 months.
export function isMskScore(v: unknown): v is 1 | 2 | 3 | 4 {
  return v === 1 || v === 2 || v === 3 || v === 4;
}

// Registry record NCT04775173: "the changes in the patient's musculoskeletal complication" from baseline.
export function mskChange(baseline: number | undefined, current: number | undefined): MskChange {
  if (!isMskScore(baseline)) return { status: 'not-evaluable', reason: 'no baseline score' };
  if (!isMskScore(current)) return { status: 'not-evaluable', reason: 'no score at this visit' };
  return { status: 'evaluable', change: current - baseline };
}
