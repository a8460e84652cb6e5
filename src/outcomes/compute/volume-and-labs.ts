/** Volume response categories, change from baseline, and threshold responses, per follow-up visit. */

import type { ResolvedOutcome } from '../../mapping/check-declarations.ts';
import type { OutcomeOf } from '../../mapping/outcome-declarations.ts';
import type { OutcomeValue } from '../outcome-value.ts';
import { labChange } from '../rules/lab-change.ts';
import { type ThresholdCondition, thresholdResponse } from '../rules/threshold-response.ts';
import { volumeResponse } from '../rules/volume-response.ts';
import type { SubjectInputs } from '../subject-inputs.ts';
import type { CountingValues } from './counting.ts';
import { ruleOf } from './rule-refs.ts';

const refs = (...v: ({ ref: string } | undefined)[]): string[] => v.filter((x) => x !== undefined).map((x) => x.ref);

/** The declared visits, or those the measure is due at after baseline. */
export function outcomeVisits(
  inputs: SubjectInputs,
  o: { visits?: string[] | undefined },
  measureId: string,
): string[] {
  if (o.visits) return o.visits;
  const due = inputs.study.measures.find((m) => m.id === measureId)?.dueAt ?? [];
  return due.filter((v) => v !== inputs.study.baselineVisit);
}

export function volumeOutcomes(
  inputs: SubjectInputs,
  counting: CountingValues,
  o: OutcomeOf<'volume-response'>,
): OutcomeValue[] {
  const out: OutcomeValue[] = [];
  const byVisit = counting.get(o.measure);
  const baseline = byVisit?.get(inputs.study.baselineVisit);
  const cutoffs = o.categories.map((c) => ({ code: c.code, when: c.percentChange }));
  for (const visit of outcomeVisits(inputs, o, o.measure)) {
    const current = byVisit?.get(visit);
    // A follow-up MRI not yet taken is a visit not yet done, not a "not evaluable" outcome.
    if (!current) continue;
    const r = volumeResponse(baseline?.value, current.value, cutoffs);
    const common = { visit, effective: current.effective, derivedFrom: refs(baseline, current), rule: ruleOf(o) };
    if (r.status === 'not-evaluable') {
      out.push({ ...common, code: o.id, result: { kind: 'not-evaluable', reason: r.reason } });
      continue;
    }
    const cat = o.categories.find((c) => c.code === r.category);
    if (o.percentChange) {
      out.push({
        ...common,
        code: o.percentChange.id,
        result: { kind: 'quantity', value: r.percentChange, unit: '%' },
      });
    }
    out.push({
      ...common,
      code: o.id,
      result: { kind: 'category', code: r.category, display: cat?.display ?? r.category },
    });
  }
  return out;
}

export function changeOutcomes(
  inputs: SubjectInputs,
  counting: CountingValues,
  o: OutcomeOf<'change-from-baseline'>,
): OutcomeValue[] {
  const out: OutcomeValue[] = [];
  const unit = inputs.study.measures.find((m) => m.id === o.measure)?.unit ?? '1';
  const byVisit = counting.get(o.measure);
  const baseline = byVisit?.get(inputs.study.baselineVisit);
  for (const visit of outcomeVisits(inputs, o, o.measure)) {
    const current = byVisit?.get(visit);
    if (!current) continue;
    const r = labChange(baseline?.value, current.value);
    const common = { visit, effective: current.effective, derivedFrom: refs(baseline, current), rule: ruleOf(o) };
    if (r.status === 'not-evaluable') {
      out.push({ ...common, code: o.id, result: { kind: 'not-evaluable', reason: r.reason } });
      continue;
    }
    out.push({ ...common, code: o.id, result: { kind: 'quantity', value: r.absolute, unit } });
    if (o.percentChange) {
      out.push({
        ...common,
        code: o.percentChange.id,
        result:
          r.percent === undefined
            ? { kind: 'not-evaluable', reason: 'baseline is zero' }
            : { kind: 'quantity', value: r.percent, unit: '%' },
      });
    }
  }
  return out;
}

export function thresholdOutcomes(
  inputs: SubjectInputs,
  counting: CountingValues,
  o: Extract<ResolvedOutcome, { rule: 'threshold-response' }>,
): OutcomeValue[] {
  const out: OutcomeValue[] = [];
  const baselineVisit = inputs.study.baselineVisit;
  const display = (id: string) => (inputs.study.measures.find((m) => m.id === id)?.display ?? id).toLowerCase();
  for (const visit of o.visits ?? []) {
    const at = o.conditions.map((c) => counting.get(c.measure)?.get(visit));
    // Assessed once any of its measures has a value at the visit.
    if (at.every((v) => v === undefined)) continue;
    const baselines = o.conditions.map((c) =>
      c.onlyIfBaselineNotMet ? counting.get(c.measure)?.get(baselineVisit) : undefined,
    );
    const conditions: ThresholdCondition[] = o.conditions.map((c, i) => ({
      name: display(c.measure),
      comparator: c.comparator,
      threshold: c.canonicalValue,
      value: at[i]?.value,
      onlyIfBaselineNotMet: c.onlyIfBaselineNotMet,
      baseline: baselines[i]?.value,
    }));
    const r = thresholdResponse(conditions, o.combine);
    out.push({
      code: o.id,
      visit,
      effective: at.find((v) => v !== undefined)?.effective,
      derivedFrom: refs(...at, ...baselines),
      rule: ruleOf(o),
      result:
        r.status === 'not-evaluable'
          ? { kind: 'not-evaluable', reason: r.reason }
          : r.met
            ? { kind: 'category', ...o.met }
            : { kind: 'category', ...o.notMet },
    });
  }
  return out;
}
