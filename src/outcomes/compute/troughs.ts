/**
 * Sirolimus troughs: each against the arm target (all troughs count, scheduled or not), time in
 * range over the whole course, share in range, the label's dose estimate after the latest trough,
 * and the out-of-target Flag. All reveal the arm, so all are labelled for masking.
 */
import type { Flag } from '@medplum/fhirtypes';
import { type OutcomeValue, OVERALL } from '../outcome-value.ts';
import { doseEstimate } from '../rules/dose-estimate.ts';
import { timeInRange } from '../rules/time-in-range.ts';
import { classifyTrough, shareInRange, type TargetRange } from '../rules/trough.ts';
import type { SubjectInputs } from '../subject-inputs.ts';
import { type TroughStatus, troughFlag } from '../trough-flag.ts';
import { RULES } from './rule-refs.ts';

const DAY_MS = 86_400_000;
const DISPLAY = { below: 'Below target', 'in-range': 'In target range', above: 'Above target' } as const;

export function troughOutcomes(inputs: SubjectInputs): { values: OutcomeValue[]; flag: Flag | undefined } {
  const arm = inputs.study.arms.find((a) => a.name === inputs.arm);
  const troughs = inputs.values.filter((v) => v.measureId === 'sirolimus-trough');
  if (!arm || troughs.length === 0) return { values: [], flag: undefined };
  const target: TargetRange = { low: arm.troughTarget.low, high: arm.troughTarget.high };
  const values: OutcomeValue[] = [];
  const statuses: TroughStatus[] = [];
  for (const t of troughs) {
    const status = classifyTrough(t.value, target);
    statuses.push({ ref: t.ref, effective: t.effective, status, value: t.value });
    values.push({
      code: 'trough-status',
      visit: t.visit,
      key: t.ref,
      effective: t.effective,
      derivedFrom: [t.ref],
      rule: RULES.trough,
      armRevealing: true,
      result: { kind: 'category', code: status, display: DISPLAY[status] },
      note: `${t.value} ng/mL against ${target.low}-${target.high} ng/mL`,
    });
  }
  const all = troughs.map((t) => t.ref);
  const last = troughs[troughs.length - 1] as (typeof troughs)[number];
  const ttr = timeInRange(
    troughs.map((t) => ({ t: Date.parse(t.effective) / DAY_MS, value: t.value })),
    target,
    inputs.study.outcomeThresholds.ttrMaxGapDays,
  );
  values.push({
    code: 'time-in-range',
    visit: OVERALL,
    effective: last.effective,
    derivedFrom: all,
    rule: RULES.ttr,
    armRevealing: true,
    result:
      ttr.status === 'evaluable'
        ? { kind: 'quantity', value: ttr.percent, unit: '%' }
        : { kind: 'not-evaluable', reason: ttr.reason },
  });
  const share = shareInRange(
    troughs.map((t) => t.value),
    target,
  );
  values.push({
    code: 'troughs-in-range',
    visit: OVERALL,
    effective: last.effective,
    derivedFrom: all,
    rule: RULES.trough,
    armRevealing: true,
    result:
      share === undefined
        ? { kind: 'not-evaluable', reason: 'no troughs' }
        : { kind: 'quantity', value: share, unit: '%' },
  });
  const dose = [...inputs.doses].reverse().find((d) => d.start <= last.effective);
  if (dose) {
    const est = doseEstimate({
      currentDose: dose.dose,
      trough: last.value,
      troughDate: last.effective,
      lastChange: dose.start,
      target,
      minIntervalDays: inputs.study.outcomeThresholds.doseChangeMinIntervalDays,
    });
    values.push({
      code: 'dose-estimate',
      visit: OVERALL,
      effective: last.effective,
      derivedFrom: [last.ref, dose.ref],
      rule: RULES.dose,
      armRevealing: true,
      result:
        est.status === 'proposed'
          ? { kind: 'quantity', value: est.dose, unit: dose.unit }
          : { kind: 'not-evaluable', reason: est.reason },
      note: 'Proposal only: to be confirmed by a clinician (Rapamune label: proportional adjustment; steady state needs 7-14 days).',
    });
  }
  return { values, flag: troughFlag(inputs, statuses) };
}
