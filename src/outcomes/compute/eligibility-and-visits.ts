/** Eligibility from the inclusion criteria, and visit compliance per visit. */

import { studyDay } from '../../records/visit-window.ts';
import { type OutcomeValue, OVERALL } from '../outcome-value.ts';
import { assessEligibility, type CriterionResult } from '../rules/eligibility.ts';
import { ageInMonths } from '../rules/pedsql.ts';
import { visitState } from '../rules/visit-compliance.ts';
import type { MeasureValue, SubjectInputs } from '../subject-inputs.ts';
import type { CountingValues } from './counting.ts';
import { RULES } from './rule-refs.ts';

const LABELS: Record<CriterionResult['id'], string> = {
  age: 'Age 0-18 years',
  bilirubin: 'Total bilirubin <= 1.5 x ULN',
  alt: 'ALT <= 2.5 x ULN',
  ast: 'AST <= 2.5 x ULN',
  creatinine: 'Creatinine within the age-band limit',
  anc: 'ANC >= 1.0 x10^9/L',
};

export function eligibilityOutcome(inputs: SubjectInputs, counting: CountingValues): OutcomeValue {
  // The baseline value that counts; for a subject still in screening (no treatment start yet, so
  // no visit windows), the latest value received.
  const base = (id: string): MeasureValue | undefined =>
    counting.get(id)?.get('baseline') ??
    (inputs.start ? undefined : inputs.values.filter((v) => v.measureId === id).at(-1));
  const bil = base('bilirubin-total');
  const alt = base('alt');
  const ast = base('ast');
  const cre = base('creatinine');
  const anc = base('anc');
  const on = inputs.start ?? bil?.effective ?? alt?.effective;
  const months = inputs.birthDate && on ? ageInMonths(inputs.birthDate, on) : undefined;
  const e = assessEligibility({
    ageYears: months === undefined ? undefined : Math.floor(months / 12),
    bilirubin: bil && { value: bil.value, uln: bil.high },
    alt: alt && { value: alt.value, uln: alt.high },
    ast: ast && { value: ast.value, uln: ast.high },
    creatinine: cre?.value,
    anc: anc?.value,
  });
  const display = { eligible: 'Eligible', ineligible: 'Ineligible', undetermined: 'Not yet determined' } as const;
  return {
    code: 'eligibility',
    visit: OVERALL,
    effective: on,
    derivedFrom: [bil, alt, ast, cre, anc].filter((v) => v !== undefined).map((v) => v.ref),
    rule: RULES.eligibility,
    result: { kind: 'category', code: e.status, display: display[e.status] },
    components: e.criteria.map((c) => ({
      code: `criterion-${c.id}`,
      display: `${LABELS[c.id]}: ${c.status} (${c.reason})`,
      result:
        c.status === 'unknown'
          ? { kind: 'not-evaluable', reason: c.reason }
          : { kind: 'category', code: c.status, display: c.status === 'met' ? 'Met' : 'Not met' },
    })),
  };
}

export function visitComplianceOutcomes(inputs: SubjectInputs, today: string): OutcomeValue[] {
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
      code: 'visit-compliance',
      visit: visit.id,
      effective: undefined,
      derivedFrom: present.map((v) => v.ref),
      rule: RULES.compliance,
      result: { kind: 'category', code: state, display: state },
      ...(missing.length > 0 && state !== 'not-yet-due' ? { note: `missing: ${missing.join(', ')}` } : {}),
    });
  }
  return out;
}
