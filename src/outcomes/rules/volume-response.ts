/** Lesion volume response from baseline volume, in categories the study declares by percent change. */
import { comparePercentChange, round } from './exact-decimal.ts';

export interface VolumeCutoff {
  code: string;
  /** Percent change from baseline that puts a value in this category; none for the last (otherwise). */
  when?: { comparator: '=' | '<' | '<=' | '>' | '>='; value: number } | undefined;
}

export type VolumeResponse =
  | { status: 'evaluable'; percentChange: number; category: string }
  | { status: 'not-evaluable'; reason: string };

function holds(sign: -1 | 0 | 1, comparator: NonNullable<VolumeCutoff['when']>['comparator']): boolean {
  if (comparator === '=') return sign === 0;
  if (comparator === '<') return sign < 0;
  if (comparator === '<=') return sign <= 0;
  if (comparator === '>') return sign > 0;
  return sign >= 0;
}

function specificity(c: VolumeCutoff): number {
  if (!c.when) return -1;
  return c.when.comparator === '=' ? Number.POSITIVE_INFINITY : Math.abs(c.when.value);
}

// Registry record NCT04775173 (the shape its categories take): further growth ≥ +10%; no change < 10% either
// way; partial involution ≥ 10% and < 75% decrease; nearly complete ≥ 75% and < 100%; complete involution
// 100%. Conditions are tried most specific first (an exact value, then the cut-offs furthest from zero),
// compared exactly; the category without a condition otherwise.
export function volumeResponse(
  baseline: number | undefined,
  current: number | undefined,
  categories: readonly VolumeCutoff[],
): VolumeResponse {
  if (baseline === undefined) return { status: 'not-evaluable', reason: 'no baseline MRI volume' };
  if (current === undefined) return { status: 'not-evaluable', reason: 'no MRI volume at this visit' };
  if (baseline <= 0) return { status: 'not-evaluable', reason: 'baseline volume is zero: percent change undefined' };
  if (current < 0) return { status: 'not-evaluable', reason: 'negative volume' };
  const percentChange = round(((current - baseline) / baseline) * 100, 2);
  const hit =
    [...categories]
      .filter((c) => c.when)
      .sort((a, b) => specificity(b) - specificity(a))
      .find((c) => c.when && holds(comparePercentChange(baseline, current, c.when.value), c.when.comparator)) ??
    categories.find((c) => !c.when);
  return { status: 'evaluable', percentChange, category: hit?.code ?? 'unclassified' };
}
