/** A response defined by thresholds on one or more measures at a visit, combined with all or any. */
import { compareExact } from './exact-decimal.ts';

export interface ThresholdCondition {
  /** How the reasons name the measure ("platelet count"). */
  name: string;
  comparator: '<' | '<=' | '>' | '>=';
  /** In the measure's unit (converted from the declared unit when the study was loaded). */
  threshold: number;
  value: number | undefined;
  /** Required only when the baseline was measured and did not meet the condition. */
  onlyIfBaselineNotMet: boolean;
  baseline: number | undefined;
}

export type ThresholdResponse = { status: 'evaluable'; met: boolean } | { status: 'not-evaluable'; reason: string };

export function meets(value: number, comparator: ThresholdCondition['comparator'], threshold: number): boolean {
  const c = compareExact(value, threshold);
  if (comparator === '<') return c < 0;
  if (comparator === '<=') return c <= 0;
  if (comparator === '>') return c > 0;
  return c >= 0;
}

// Generalises the registry record NCT04775173 KMP response (platelets > 100 x10^9/L; fibrinogen > 1.5 g/L
// required only where baseline fibrinogen was low): every applicable condition met ("all") or one ("any").
// With "all", the first applicable condition without a value makes the response not evaluable; with
// "any", a met condition decides even while others have no value.
export function thresholdResponse(
  conditions: readonly ThresholdCondition[],
  combine: 'all' | 'any',
): ThresholdResponse {
  const applicable = conditions.filter(
    (c) => !c.onlyIfBaselineNotMet || (c.baseline !== undefined && !meets(c.baseline, c.comparator, c.threshold)),
  );
  const missing = applicable.find((c) => c.value === undefined);
  const reason = (c: ThresholdCondition): string =>
    c.onlyIfBaselineNotMet
      ? `${c.name} was ${c.comparator.startsWith('>') ? 'low' : 'high'} at baseline and has no value at this visit`
      : `no ${c.name} at this visit`;
  const met = applicable.map((c) => c.value !== undefined && meets(c.value, c.comparator, c.threshold));
  if (combine === 'all') {
    if (missing) return { status: 'not-evaluable', reason: reason(missing) };
    return { status: 'evaluable', met: met.every(Boolean) };
  }
  if (met.some(Boolean)) return { status: 'evaluable', met: true };
  if (missing) return { status: 'not-evaluable', reason: reason(missing) };
  return { status: 'evaluable', met: false };
}
