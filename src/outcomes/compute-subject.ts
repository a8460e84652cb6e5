/**
 * All outcomes of one subject, from its inputs: pure, so a recomputation is deterministic and the
 * same inputs always give the same resources (what lets publishing skip unchanged values).
 */
import type { AdverseEvent, Flag, Questionnaire } from '@medplum/fhirtypes';
import { computeDeclared } from './compute/catalogue.ts';
import { type CountingValues, countingValues } from './compute/counting.ts';
import { type ExtraSummary, labAdverseEventSuggestions } from './compute/safety.ts';
import type { OutcomeValue } from './outcome-value.ts';
import type { SubjectInputs } from './subject-inputs.ts';

export interface SubjectOutcomes {
  values: OutcomeValue[];
  flags: Flag[];
  suggestions: AdverseEvent[];
  summary: ExtraSummary[];
}

/** Prefix of summary kinds that carry a visit's counting measure value (the flat analysis export reads them). */
export const MEASURE_KIND_PREFIX = 'measure:';

function measureSummary(counting: CountingValues): ExtraSummary[] {
  const rows: ExtraSummary[] = [];
  for (const [measureId, perVisit] of counting) {
    for (const [visit, v] of perVisit) {
      rows.push({ visit, kind: `${MEASURE_KIND_PREFIX}${measureId}`, category: '', value: v.value });
    }
  }
  return rows;
}

/** Iterates the outcomes the subject's study declares, in declaration order. */
export function computeSubjectOutcomes(
  inputs: SubjectInputs,
  today: string,
  questionnaires: ReadonlyMap<string, Questionnaire>,
): SubjectOutcomes {
  const counting = countingValues(inputs);
  const context = { inputs, counting, today, questionnaires };
  const values: OutcomeValue[] = [];
  const flags: Flag[] = [];
  const summary: ExtraSummary[] = [];
  for (const o of inputs.study.outcomes) {
    const out = computeDeclared(o, context);
    values.push(...out.values);
    flags.push(...(out.flags ?? []));
    summary.push(...(out.summary ?? []));
  }
  return {
    values,
    flags,
    suggestions: labAdverseEventSuggestions(inputs),
    summary: [...summary, ...measureSummary(counting)],
  };
}
