/** Lesion volume response, platelet and fibrinogen change and KM response, per follow-up visit. */

import { VOLUME_CATEGORIES } from '../../mapping/outcome-codes.ts';
import type { OutcomeValue } from '../outcome-value.ts';
import { kmResponse, labChange } from '../rules/lab-change.ts';
import { volumeResponse } from '../rules/volume-response.ts';
import type { SubjectInputs } from '../subject-inputs.ts';
import type { CountingValues } from './counting.ts';
import { RULES } from './rule-refs.ts';

const refs = (...v: ({ ref: string } | undefined)[]): string[] => v.filter((x) => x !== undefined).map((x) => x.ref);

function dueVisits(inputs: SubjectInputs, measureId: string): string[] {
  return (inputs.study.measures.find((m) => m.id === measureId)?.dueAt ?? []).filter((v) => v !== 'baseline');
}

export function volumeOutcomes(inputs: SubjectInputs, counting: CountingValues): OutcomeValue[] {
  const out: OutcomeValue[] = [];
  const byVisit = counting.get('lesion-volume');
  const baseline = byVisit?.get('baseline');
  for (const visit of dueVisits(inputs, 'lesion-volume')) {
    const current = byVisit?.get(visit);
    // A follow-up MRI not yet taken is a visit not yet done, not a "not evaluable" outcome.
    if (!current) continue;
    const r = volumeResponse(baseline?.value, current.value);
    const common = { visit, effective: current.effective, derivedFrom: refs(baseline, current), rule: RULES.volume };
    if (r.status === 'not-evaluable') {
      out.push({ ...common, code: 'volume-response', result: { kind: 'not-evaluable', reason: r.reason } });
      continue;
    }
    const cat = VOLUME_CATEGORIES.find((c) => c.code === r.category);
    out.push({
      ...common,
      code: 'volume-percent-change',
      result: { kind: 'quantity', value: r.percentChange, unit: '%' },
    });
    out.push({
      ...common,
      code: 'volume-response',
      result: { kind: 'category', code: r.category, display: cat?.display ?? r.category },
    });
  }
  return out;
}

export function labOutcomes(inputs: SubjectInputs, counting: CountingValues): OutcomeValue[] {
  const out: OutcomeValue[] = [];
  const thresholds = inputs.study.outcomeThresholds;
  const plt = counting.get('platelets');
  const fib = counting.get('fibrinogen');
  for (const [measureId, code, unit] of [
    ['platelets', 'platelet', '10*9/L'],
    ['fibrinogen', 'fibrinogen', 'g/L'],
  ] as const) {
    const byVisit = counting.get(measureId);
    const baseline = byVisit?.get('baseline');
    for (const visit of dueVisits(inputs, measureId)) {
      const current = byVisit?.get(visit);
      if (!current) continue;
      const r = labChange(baseline?.value, current.value);
      const common = {
        visit,
        effective: current.effective,
        derivedFrom: refs(baseline, current),
        rule: RULES.labChange,
      };
      if (r.status === 'not-evaluable') {
        out.push({ ...common, code: `${code}-change`, result: { kind: 'not-evaluable', reason: r.reason } });
        continue;
      }
      out.push({ ...common, code: `${code}-change`, result: { kind: 'quantity', value: r.absolute, unit } });
      out.push({
        ...common,
        code: `${code}-percent-change`,
        result:
          r.percent === undefined
            ? { kind: 'not-evaluable', reason: 'baseline is zero' }
            : { kind: 'quantity', value: r.percent, unit: '%' },
      });
    }
  }
  for (const visit of dueVisits(inputs, 'platelets')) {
    const p = plt?.get(visit);
    const f = fib?.get(visit);
    if (!p && !f) continue;
    const fb = fib?.get('baseline');
    const r = kmResponse(
      { platelets: p?.value, fibrinogen: f?.value, fibrinogenBaseline: fb?.value },
      thresholds.kmResponsePlateletsAbove,
      thresholds.kmResponseFibrinogenAbove,
    );
    out.push({
      code: 'km-response',
      visit,
      effective: p?.effective ?? f?.effective,
      derivedFrom: refs(p, f, fb),
      rule: RULES.km,
      result:
        r.status === 'not-evaluable'
          ? { kind: 'not-evaluable', reason: r.reason }
          : r.response
            ? { kind: 'category', code: 'response', display: 'Response' }
            : { kind: 'category', code: 'no-response', display: 'No response' },
    });
  }
  return out;
}
