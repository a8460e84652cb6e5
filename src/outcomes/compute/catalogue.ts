/**
 * The catalogue: each rule a study.json outcome may pick, bound to the pure function that computes
 * it from the subject's inputs and the outcome's declared parameters.
 */
import type { Flag, Questionnaire } from '@medplum/fhirtypes';
import type { ResolvedOutcome } from '../../mapping/check-declarations.ts';
import type { OutcomeValue } from '../outcome-value.ts';
import type { SubjectInputs } from '../subject-inputs.ts';
import type { CountingValues } from './counting.ts';
import { eligibilityOutcome, visitComplianceOutcomes } from './eligibility-and-visits.ts';
import { mskOutcomes, proOutcomes } from './forms.ts';
import { adverseEventOutcomes, type ExtraSummary } from './safety.ts';
import { doseEstimateOutcomes, shareInRangeOutcomes, timeInRangeOutcomes, troughStatusOutcomes } from './troughs.ts';
import { changeOutcomes, thresholdOutcomes, volumeOutcomes } from './volume-and-labs.ts';

export interface RuleContext {
  inputs: SubjectInputs;
  counting: CountingValues;
  today: string;
  questionnaires: ReadonlyMap<string, Questionnaire>;
}

export interface RuleOutput {
  values: OutcomeValue[];
  flags?: Flag[];
  summary?: ExtraSummary[];
}

export function computeDeclared(o: ResolvedOutcome, c: RuleContext): RuleOutput {
  switch (o.rule) {
    case 'change-from-baseline':
      return { values: changeOutcomes(c.inputs, c.counting, o) };
    case 'volume-response':
      return { values: volumeOutcomes(c.inputs, c.counting, o) };
    case 'threshold-response':
      return { values: thresholdOutcomes(c.inputs, c.counting, o) };
    case 'trough-target': {
      const t = troughStatusOutcomes(c.inputs, o);
      return { values: t.values, flags: t.flag ? [t.flag] : [] };
    }
    case 'time-in-range':
      return { values: timeInRangeOutcomes(c.inputs, o) };
    case 'share-in-range':
      return { values: shareInRangeOutcomes(c.inputs, o) };
    case 'dose-estimate':
      return { values: doseEstimateOutcomes(c.inputs, o) };
    case 'pro-score':
      return { values: proOutcomes(c.inputs, c.questionnaires, o) };
    case 'musculoskeletal-score':
      return { values: mskOutcomes(c.inputs, o) };
    case 'ae-summary':
      return adverseEventOutcomes(c.inputs, o);
    case 'eligibility':
      return { values: [eligibilityOutcome(c.inputs, c.counting, o)] };
    case 'visit-compliance':
      return { values: visitComplianceOutcomes(c.inputs, c.today, o) };
  }
}
