/** KHE lesion volume response from baseline MRI volume. */
import { compareExact, comparePercentChange, round } from './exact-decimal.ts';

export type VolumeCategory =
  | 'further-growth'
  | 'no-change'
  | 'partial-involution'
  | 'nearly-complete-involution'
  | 'complete-involution';

export type VolumeResponse =
  | { status: 'evaluable'; percentChange: number; category: VolumeCategory }
  | { status: 'not-evaluable'; reason: string };

// Registry record NCT04775173: further growth ≥ +10%; no change < 10% either way; partial involution
// ≥ 10% and < 75% decrease; nearly complete ≥ 75% and < 100%; complete involution 100%.
export function volumeResponse(baseline: number | undefined, current: number | undefined): VolumeResponse {
  if (baseline === undefined) return { status: 'not-evaluable', reason: 'no baseline MRI volume' };
  if (current === undefined) return { status: 'not-evaluable', reason: 'no MRI volume at this visit' };
  if (baseline <= 0) return { status: 'not-evaluable', reason: 'baseline volume is zero: percent change undefined' };
  if (current < 0) return { status: 'not-evaluable', reason: 'negative volume' };
  const percentChange = round(((current - baseline) / baseline) * 100, 2);
  let category: VolumeCategory;
  if (compareExact(current, 0) === 0) category = 'complete-involution';
  else if (comparePercentChange(baseline, current, -75) <= 0) category = 'nearly-complete-involution';
  else if (comparePercentChange(baseline, current, -10) <= 0) category = 'partial-involution';
  else if (comparePercentChange(baseline, current, 10) >= 0) category = 'further-growth';
  else category = 'no-change';
  return { status: 'evaluable', percentChange, category };
}
