/**
 * All outcomes of one subject, from its inputs: pure, so a recomputation is deterministic and the
 * same inputs always give the same resources (what lets publishing skip unchanged values).
 */
import type { AdverseEvent, Flag, Questionnaire } from '@medplum/fhirtypes';
import { type CountingValues, countingValues } from './compute/counting.ts';
import { eligibilityOutcome, visitComplianceOutcomes } from './compute/eligibility-and-visits.ts';
import { formOutcomes } from './compute/forms.ts';
import { adverseEventOutcomes, type ExtraSummary, labAdverseEventSuggestions } from './compute/safety.ts';
import { troughOutcomes } from './compute/troughs.ts';
import { labOutcomes, volumeOutcomes } from './compute/volume-and-labs.ts';
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

export function computeSubjectOutcomes(
  inputs: SubjectInputs,
  today: string,
  questionnaires: ReadonlyMap<string, Questionnaire>,
): SubjectOutcomes {
  const counting = countingValues(inputs);
  const troughs = troughOutcomes(inputs);
  const ae = adverseEventOutcomes(inputs);
  return {
    values: [
      ...volumeOutcomes(inputs, counting),
      ...labOutcomes(inputs, counting),
      ...troughs.values,
      ...formOutcomes(inputs, questionnaires),
      ...ae.values,
      eligibilityOutcome(inputs, counting),
      ...visitComplianceOutcomes(inputs, today),
    ],
    flags: troughs.flag ? [troughs.flag] : [],
    suggestions: labAdverseEventSuggestions(inputs),
    summary: [...ae.summary, ...measureSummary(counting)],
  };
}
