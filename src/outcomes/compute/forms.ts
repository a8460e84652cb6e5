/** PRO scores (form picked by the child's age at the visit) and the musculoskeletal score, as declared. */
import type { Questionnaire } from '@medplum/fhirtypes';
import { PRO_CODES } from '../../mapping/outcome-codes.ts';
import type { OutcomeOf } from '../../mapping/outcome-declarations.ts';
import type { OutcomeComponent, OutcomeResult, OutcomeValue } from '../outcome-value.ts';
import { mskChange } from '../rules/msk.ts';
import { ageInMonths, type PedsqlScale, scorePedsql } from '../rules/pedsql.ts';
import type { FormAnswers, SubjectInputs } from '../subject-inputs.ts';
import { ruleOf } from './rule-refs.ts';

const SUMMARY_EXT = 'https://khe-trial.example.org/fhir/StructureDefinition/pedsql-summary';

/** Scales and summaries as the Questionnaire defines them (group items; summary extensions). */
export function pedsqlLayout(q: Questionnaire): { scales: PedsqlScale[]; summaries: Record<string, string[]> } {
  const scales = (q.item ?? [])
    .filter((i) => i.type === 'group')
    .map((g) => ({ id: g.linkId as string, items: (g.item ?? []).map((i) => i.linkId as string) }));
  const summaries: Record<string, string[]> = {};
  for (const e of q.extension ?? []) {
    if (e.url !== SUMMARY_EXT) continue;
    const code = e.extension?.find((x) => x.url === 'code')?.valueCode;
    const ids = e.extension?.find((x) => x.url === 'scales')?.valueString;
    if (code && ids) summaries[code] = ids.split(',');
  }
  return { scales, summaries };
}

const score = (v: number | undefined, reason: string): OutcomeResult =>
  v === undefined ? { kind: 'not-evaluable', reason } : { kind: 'quantity', value: v, unit: '1' };

function latestPerVisit(forms: readonly FormAnswers[]): Map<string, FormAnswers> {
  const out = new Map<string, FormAnswers>();
  for (const f of forms) out.set(f.visit, f);
  return out;
}

export function proOutcomes(
  inputs: SubjectInputs,
  questionnaires: ReadonlyMap<string, Questionnaire>,
  o: OutcomeOf<'pro-score'>,
): OutcomeValue[] {
  const out: OutcomeValue[] = [];
  const codes = PRO_CODES[o.instrument];
  const pedsqlForms = inputs.study.forms.filter((f) => o.forms.includes(f.id));
  const pedsqlUrls = new Set(pedsqlForms.map((f) => f.questionnaire));
  const responses = latestPerVisit(inputs.forms.filter((f) => pedsqlUrls.has(f.questionnaire.split('|')[0] as string)));
  for (const [visit, f] of responses) {
    const url = f.questionnaire.split('|')[0] as string;
    const form = pedsqlForms.find((x) => x.questionnaire === url);
    const q = questionnaires.get(url);
    if (!form || !q) continue;
    const common = { visit, effective: f.authored, derivedFrom: [f.ref], rule: ruleOf(o) };
    const months = inputs.birthDate ? ageInMonths(inputs.birthDate, f.authored) : undefined;
    if (form.ageMonths && months !== undefined && (months < form.ageMonths.min || months > form.ageMonths.max)) {
      // The wrong age form cannot be scored against the right norms: say so rather than guess.
      out.push({
        ...common,
        code: o.id,
        result: {
          kind: 'not-evaluable',
          reason: `form ${form.id} is for ${form.ageMonths.min}-${form.ageMonths.max} months; the child was ${months}`,
        },
      });
      continue;
    }
    const { scales, summaries } = pedsqlLayout(q);
    const s = scorePedsql(scales, summaries, f.answers);
    const components: OutcomeComponent[] = scales.map((sc) => ({
      code: codes.scale.code,
      display: sc.id,
      result: score(s.scales[sc.id], 'more than half of the items missing'),
    }));
    out.push({ ...common, code: o.id, result: score(s.total, 'no items answered'), components });
    out.push({
      ...common,
      code: codes.physical.code,
      result: score(s.summaries.physical, 'no physical items answered'),
    });
    out.push({
      ...common,
      code: codes.psychosocial.code,
      result: score(s.summaries.psychosocial, 'no psychosocial items answered'),
    });
  }
  return out;
}

export function mskOutcomes(inputs: SubjectInputs, o: OutcomeOf<'musculoskeletal-score'>): OutcomeValue[] {
  const out: OutcomeValue[] = [];
  const mskUrl = inputs.study.forms.find((f) => f.id === o.form)?.questionnaire;
  const msk = latestPerVisit(inputs.forms.filter((f) => f.questionnaire.split('|')[0] === mskUrl));
  const baselineVisit = inputs.study.baselineVisit;
  const baseline = msk.get(baselineVisit);
  for (const [visit, f] of msk) {
    const value = f.answers.get(o.item);
    const common = { visit, effective: f.authored, rule: ruleOf(o) };
    out.push({
      ...common,
      code: o.id,
      derivedFrom: [f.ref],
      result:
        typeof value === 'number'
          ? { kind: 'quantity', value, unit: '1' }
          : { kind: 'not-evaluable', reason: 'no score answered' },
    });
    if (visit === baselineVisit || !o.change) continue;
    const c = mskChange(baseline?.answers.get(o.item) as number | undefined, value as number | undefined);
    out.push({
      ...common,
      code: o.change.id,
      derivedFrom: [f.ref, ...(baseline ? [baseline.ref] : [])],
      result:
        c.status === 'evaluable'
          ? { kind: 'quantity', value: c.change, unit: '1' }
          : { kind: 'not-evaluable', reason: c.reason },
    });
  }
  return out;
}
