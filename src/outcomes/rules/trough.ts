/** Sirolimus troughs against the arm's target range. */
import { round } from './exact-decimal.ts';

export interface TargetRange {
  low: number;
  high: number;
}

export type TroughClass = 'below' | 'in-range' | 'above';

// Registry record NCT04775173: low-dose arm 5–10 ng/mL, regular-dose arm 10–15 ng/mL; bounds inclusive.
export function classifyTrough(value: number, target: TargetRange): TroughClass {
  if (value < target.low) return 'below';
  if (value > target.high) return 'above';
  return 'in-range';
}

// Share of measurements in range: the simple companion of time in range (registry: trough in target).
export function shareInRange(values: readonly number[], target: TargetRange): number | undefined {
  if (values.length === 0) return undefined;
  const n = values.filter((v) => classifyTrough(v, target) === 'in-range').length;
  return round((n / values.length) * 100, 2);
}
