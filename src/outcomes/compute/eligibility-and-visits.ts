/** Eligibility from the study's declared inclusion criteria, and visit compliance per visit. */

import type { ResolvedCriterion } from '../../mapping/check-declarations.ts';
import type { OutcomeOf } from '../../mapping/outcome-declarations.ts';
import { studyDay } from '../../records/visit-window.ts';
import { type OutcomeValue, OVERALL } from '../outcome-value.ts';
import { assessEligibility, type CriterionInput, type CriterionLimit } from '../rules/eligibility.ts';
import { ageInMonths } from '../rules/pedsql.ts';
import { visitState } from '../rules/visit-compliance.ts';
import type { MeasureValue, SubjectInputs } from '../subject-inputs.ts';
import type { CountingValues } from './counting.ts';
import { ruleOf } from './rule-refs.ts';

function limitOf(c: ResolvedCriterion, measureUnit: string): CriterionLimit {
  if (c.timesUln !== undefined) return { kind: 'uln', factor: c.timesUln };
  const unit = c.unit ?? measureUnit;
  if (c.byAge) {
    return {
      kind: 'age-band',
      unit,
      bands: c.byAge.map((b) => ({ ...b, limit: b.canonicalValue, shown: String(b.value) })),
    };
  }
  return { kind: 'absolute', limit: c.canonicalValue as number, shown: String(c.value), unit };
}

export function eligibilityOutcome(
  inputs: SubjectInputs,
  counting: CountingValues,
  o: OutcomeOf<'eligibility'>,
): OutcomeValue {
  const declared = inputs.study.eligibility ?? { criteria: [] };
  // The baseline value that counts; for a subject still in screening (no treatment start yet, so
  // no visit windows), the latest value received.
  const base = (id: string): MeasureValue | undefined =>
    counting.get(id)?.get(inputs.study.baselineVisit) ??
    (inputs.start ? undefined : inputs.values.filter((v) => v.measureId === id).at(-1));
  const results = declared.criteria.map((c) => base(c.measure));
  const on = inputs.start ?? results.find((r) => r !== undefined)?.effective;
  const months = inputs.birthDate && on ? ageInMonths(inputs.birthDate, on) : undefined;
  const criteria: CriterionInput[] = declared.criteria.map((c, i) => {
    const unit = inputs.study.measures.find((m) => m.id === c.measure)?.unit ?? '';
    const r = results[i];
    return {
      id: c.id,
      comparator: c.comparator,
      limit: limitOf(c, unit),
      result: r && { value: r.value, uln: r.high },
      unit,
    };
  });
  const e = assessEligibility({
    ageYears: months === undefined ? undefined : Math.floor(months / 12),
    age: declared.age,
    criteria,
  });
  const labels = new Map<string, string>([
    ['age', declared.age?.label ?? 'Age'],
    ...declared.criteria.map((c): [string, string] => [c.id, c.label]),
  ]);
  const display = { eligible: 'Eligible', ineligible: 'Ineligible', undetermined: 'Not yet determined' } as const;
  return {
    code: o.id,
    visit: OVERALL,
    effective: on,
    derivedFrom: [...new Set(results.filter((v) => v !== undefined).map((v) => v.ref))],
    rule: ruleOf(o),
    result: { kind: 'category', code: e.status, display: display[e.status] },
    components: e.criteria.map((c) => ({
      code: `criterion-${c.id}`,
      display: `${labels.get(c.id) ?? c.id}: ${c.status} (${c.reason})`,
      result:
        c.status === 'unknown'
          ? { kind: 'not-evaluable', reason: c.reason }
          : { kind: 'category', code: c.status, display: c.status === 'met' ? 'Met' : 'Not met' },
    })),
  };
}

export function visitComplianceOutcomes(
  inputs: SubjectInputs,
  today: string,
  o?: OutcomeOf<'visit-compliance'>,
): OutcomeValue[] {
  if (!inputs.start) return [];
  const day = studyDay(today, inputs.start);
  if (day === undefined) return [];
  const out: OutcomeValue[] = [];
  for (const visit of inputs.study.visits) {
    const due = inputs.study.measures.filter((m) => m.dueAt.includes(visit.id));
    const present = inputs.values.filter((v) => v.visit === visit.id);
    // Done once any of the visit's measures has a value; what is still missing goes into the note.
    const done = due.some((m) => present.some((v) => v.measureId === m.id));
    const state = visitState(visit, day, done);
    const missing = due.filter((m) => !present.some((v) => v.measureId === m.id)).map((m) => m.id);
    out.push({
      code: o?.id ?? 'visit-compliance',
      visit: visit.id,
      effective: undefined,
      derivedFrom: present.map((v) => v.ref),
      rule: ruleOf(o ?? { rule: 'visit-compliance', ruleId: undefined, source: 'study.json visit windows' }),
      result: { kind: 'category', code: state, display: state },
      ...(missing.length > 0 && state !== 'not-yet-due' ? { note: `missing: ${missing.join(', ')}` } : {}),
    });
  }
  return out;
}
