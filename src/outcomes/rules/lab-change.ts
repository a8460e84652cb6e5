/** Change of a measured value from baseline. */
import { round } from './exact-decimal.ts';

export type LabChange =
  | { status: 'evaluable'; absolute: number; percent: number | undefined }
  | { status: 'not-evaluable'; reason: string };

// Registry record NCT04775173: platelet count and fibrinogen, change from baseline (any declared measure).
export function labChange(baseline: number | undefined, current: number | undefined): LabChange {
  if (baseline === undefined) return { status: 'not-evaluable', reason: 'no baseline value' };
  if (current === undefined) return { status: 'not-evaluable', reason: 'no value at this visit' };
  const absolute = round(current - baseline, 4);
  const percent = baseline === 0 ? undefined : round(((current - baseline) / baseline) * 100, 2);
  return { status: 'evaluable', absolute, percent };
}
