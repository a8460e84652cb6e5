/**
 * Drug levels against the target the subject's arm declares for them (arm → intervention →
 * troughTarget): each trough's status (all count, scheduled or not) and the out-of-target Flag,
 * time in range over the whole course, share in range, and the label's dose estimate after the
 * latest trough. All reveal the arm, so all are labelled for masking.
 */
import type { Flag } from '@medplum/fhirtypes';
import type { OutcomeOf } from '../../mapping/outcome-declarations.ts';
import { type OutcomeValue, OVERALL } from '../outcome-value.ts';
import { doseEstimate } from '../rules/dose-estimate.ts';
import { timeInRange } from '../rules/time-in-range.ts';
import { classifyTrough, shareInRange, type TargetRange } from '../rules/trough.ts';
import type { MeasureValue, SubjectInputs } from '../subject-inputs.ts';
import { type TroughStatus, troughFlag } from '../trough-flag.ts';
import { ruleOf } from './rule-refs.ts';

const DAY_MS = 86_400_000;
const DISPLAY = { below: 'Below target', 'in-range': 'In target range', above: 'Above target' } as const;

interface Targeted {
  drug: string;
  rxnorm: string;
  target: TargetRange;
  unit: string;
  troughs: MeasureValue[];
}

/** The subject's troughs of the measure and its arm's target for them, if the arm declares one. */
function targeted(inputs: SubjectInputs, measure: string): Targeted | undefined {
  const arm = inputs.study.arms.find((a) => a.name === inputs.arm);
  const intervention = arm?.interventions.find((i) => i.troughTarget?.measure === measure);
  const t = intervention?.troughTarget;
  const troughs = inputs.values.filter((v) => v.measureId === measure);
  if (!intervention || !t || troughs.length === 0) return undefined;
  return {
    drug: intervention.drug,
    rxnorm: intervention.rxnorm,
    target: { low: t.low, high: t.high },
    unit: inputs.study.measures.find((m) => m.id === measure)?.unit ?? t.unit,
    troughs,
  };
}

export function troughStatusOutcomes(
  inputs: SubjectInputs,
  o: OutcomeOf<'trough-target'>,
): { values: OutcomeValue[]; flag: Flag | undefined } {
  const x = targeted(inputs, o.measure);
  if (!x) return { values: [], flag: undefined };
  const values: OutcomeValue[] = [];
  const statuses: TroughStatus[] = [];
  for (const t of x.troughs) {
    const status = classifyTrough(t.value, x.target);
    statuses.push({ ref: t.ref, effective: t.effective, status, value: t.value });
    values.push({
      code: o.id,
      visit: t.visit,
      key: t.ref,
      effective: t.effective,
      derivedFrom: [t.ref],
      rule: ruleOf(o),
      armRevealing: true,
      result: { kind: 'category', code: status, display: DISPLAY[status] },
      note: `${t.value} ${x.unit} against ${x.target.low}-${x.target.high} ${x.unit}`,
    });
  }
  return { values, flag: troughFlag(inputs, statuses, { drug: x.drug, unit: x.unit }) };
}

export function timeInRangeOutcomes(inputs: SubjectInputs, o: OutcomeOf<'time-in-range'>): OutcomeValue[] {
  const x = targeted(inputs, o.measure);
  if (!x) return [];
  const last = x.troughs[x.troughs.length - 1] as MeasureValue;
  const ttr = timeInRange(
    x.troughs.map((t) => ({ t: Date.parse(t.effective) / DAY_MS, value: t.value })),
    x.target,
    o.maxGapDays,
  );
  return [
    {
      code: o.id,
      visit: OVERALL,
      effective: last.effective,
      derivedFrom: x.troughs.map((t) => t.ref),
      rule: ruleOf(o),
      armRevealing: true,
      result:
        ttr.status === 'evaluable'
          ? { kind: 'quantity', value: ttr.percent, unit: '%' }
          : { kind: 'not-evaluable', reason: ttr.reason },
    },
  ];
}

export function shareInRangeOutcomes(inputs: SubjectInputs, o: OutcomeOf<'share-in-range'>): OutcomeValue[] {
  const x = targeted(inputs, o.measure);
  if (!x) return [];
  const last = x.troughs[x.troughs.length - 1] as MeasureValue;
  const share = shareInRange(
    x.troughs.map((t) => t.value),
    x.target,
  );
  return [
    {
      code: o.id,
      visit: OVERALL,
      effective: last.effective,
      derivedFrom: x.troughs.map((t) => t.ref),
      rule: ruleOf(o),
      armRevealing: true,
      result:
        share === undefined
          ? { kind: 'not-evaluable', reason: 'no troughs' }
          : { kind: 'quantity', value: share, unit: '%' },
    },
  ];
}

export function doseEstimateOutcomes(inputs: SubjectInputs, o: OutcomeOf<'dose-estimate'>): OutcomeValue[] {
  const x = targeted(inputs, o.measure);
  if (!x) return [];
  const last = x.troughs[x.troughs.length - 1] as MeasureValue;
  // Only doses of the drug whose level this is.
  const dose = [...inputs.doses].reverse().find((d) => d.drug === x.rxnorm && d.start <= last.effective);
  if (!dose) return [];
  const est = doseEstimate({
    currentDose: dose.dose,
    trough: last.value,
    troughDate: last.effective,
    lastChange: dose.start,
    target: x.target,
    minIntervalDays: o.minIntervalDays,
  });
  return [
    {
      code: o.id,
      visit: OVERALL,
      effective: last.effective,
      derivedFrom: [last.ref, dose.ref],
      rule: ruleOf(o),
      armRevealing: true,
      result:
        est.status === 'proposed'
          ? { kind: 'quantity', value: est.dose, unit: dose.unit }
          : { kind: 'not-evaluable', reason: est.reason },
      note: o.note,
    },
  ];
}
