/** Time in therapeutic range by linear interpolation between consecutive troughs. */
import { round } from './exact-decimal.ts';
import type { TargetRange } from './trough.ts';

export interface TimedTrough {
  /** Time in days (fractional) on any fixed origin. */
  t: number;
  value: number;
}

export type TimeInRange =
  | { status: 'evaluable'; percent: number; daysInRange: number; daysObserved: number; intervalsExcluded: number }
  | { status: 'not-evaluable'; reason: string };

/** Fraction of [0, 1] where v0 + (v1 − v0)·s lies within [low, high]. */
function fractionInRange(v0: number, v1: number, r: TargetRange): number {
  if (v0 === v1) return v0 >= r.low && v0 <= r.high ? 1 : 0;
  const at = (v: number): number => (v - v0) / (v1 - v0);
  const a = Math.max(0, Math.min(at(r.low), at(r.high)));
  const b = Math.min(1, Math.max(at(r.low), at(r.high)));
  return Math.max(0, b - a);
}

// Rosendaal FR et al. Thromb Haemost 1993;69:236–9: linear interpolation between measurements; intervals
// longer than maxGapDays are left out (numerator and denominator), as the study definition configures.
export function timeInRange(troughs: readonly TimedTrough[], target: TargetRange, maxGapDays: number): TimeInRange {
  const sorted = [...troughs].sort((a, b) => a.t - b.t);
  if (sorted.length < 2) return { status: 'not-evaluable', reason: 'fewer than two troughs' };
  let inRange = 0;
  let observed = 0;
  let excluded = 0;
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1] as TimedTrough;
    const c = sorted[i] as TimedTrough;
    const days = c.t - p.t;
    if (days <= 0) continue;
    if (days > maxGapDays) {
      excluded++;
      continue;
    }
    observed += days;
    inRange += days * fractionInRange(p.value, c.value, target);
  }
  if (observed === 0)
    return { status: 'not-evaluable', reason: `no interval between troughs of ${maxGapDays} days or less` };
  return {
    status: 'evaluable',
    percent: round((inRange / observed) * 100, 2),
    daysInRange: round(inRange, 3),
    daysObserved: round(observed, 3),
    intervalsExcluded: excluded,
  };
}
