/**
 * What a clinician needs to see at a glance about an enrolled child, computed from the subject's
 * trial records and published outcomes: arm and target, the last trough against it, platelets and
 * fibrinogen against baseline, volume response so far, the visit schedule, open adverse events and
 * Flags. Pure: the loader gathers the inputs.
 */
import type { AdverseEvent, Flag, Observation } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import { countingValues } from '../outcomes/compute/counting.ts';
import { visitComplianceOutcomes } from '../outcomes/compute/eligibility-and-visits.ts';
import { classifyTrough, type TroughClass } from '../outcomes/rules/trough.ts';
import type { MeasureValue, SubjectInputs } from '../outcomes/subject-inputs.ts';
import { addDays } from './dates.ts';
import { daysSince, unitWords } from './words.ts';

export interface LabStatus {
  latest: number;
  latestDate: string;
  baseline: number | undefined;
  unit: string;
}

export interface SeriesPoint {
  date: string;
  value: number;
  /** The visit's label ("Month 3"), or "Unscheduled". */
  visit: string;
}

export interface VisitStatus {
  id: string;
  label: string;
  state: string;
  windowStart: string | undefined;
  windowEnd: string | undefined;
}

export interface TrialStatus {
  studyLabel: string;
  studyId: string;
  researchSubjectId: string;
  patientId: string;
  arm: string | undefined;
  target: { low: number; high: number; unit: string } | undefined;
  lastTrough: { value: number; date: string; status: TroughClass; ageDays: number; stale: boolean } | undefined;
  troughs: { value: number; date: string; status: TroughClass }[];
  /** Decimal places each measure is shown with (the study definition's), by measure id. */
  decimals: Record<string, number>;
  platelets: LabStatus | undefined;
  fibrinogen: LabStatus | undefined;
  volumeResponse: { visit: string; category: string; percentChange: number | undefined } | undefined;
  /** Every value over time, for the trial page's charts (canonical units). */
  series: { platelets: SeriesPoint[]; fibrinogen: SeriesPoint[]; lesionVolume: SeriesPoint[] };
  /** Volume response category by follow-up visit. */
  volumeByVisit: { visit: string; category: string }[];
  visits: VisitStatus[];
  nextVisit: VisitStatus | undefined;
  overdue: VisitStatus[];
  openAdverseEvents: { term: string; grade: string | undefined; date: string | undefined }[];
  activeFlags: { text: string; armRevealing: boolean }[];
  /** Safety rule: platelets below the configured threshold. */
  critical: string | undefined;
  /** The days after which a trough counts as stale (CDS_TROUGH_STALE_DAYS). */
  troughStaleDays: number;
  /** Set for a user declared blinded: arm, target, troughs and arm-revealing Flags have been left out. */
  blinded: boolean;
  /** What clinicians call the study ("Sirolimus in KHE"), or its registry id. */
  studyShortName: string;
}

const CLOSED_AE_OUTCOMES = new Set(['resolved', 'resolvedWithSequelae', 'fatal']);
const GRADE_EXT = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade';

type Round = (value: number, measureId: string) => number;

function lab(
  inputs: SubjectInputs,
  measureId: string,
  baseline: MeasureValue | undefined,
  round: Round,
): LabStatus | undefined {
  const last = inputs.values.filter((v) => v.measureId === measureId).at(-1);
  if (!last) return undefined;
  return {
    latest: round(last.value, measureId),
    latestDate: last.effective,
    baseline: baseline ? round(baseline.value, measureId) : undefined,
    unit: last.unit,
  };
}

export function trialStatus(
  inputs: SubjectInputs,
  outcomes: readonly Observation[],
  flags: readonly Flag[],
  adverseEvents: readonly AdverseEvent[],
  today: string,
  plateletsCriticalBelow: number,
  troughStaleDays = 35,
): TrialStatus {
  const decimals = Object.fromEntries(inputs.study.measures.map((m) => [m.id, m.decimals]));
  // Converted values carry many decimals; each measure is read to the precision its study declares.
  const round: Round = (value, measureId) => {
    const f = 10 ** (decimals[measureId] ?? 2);
    return Math.round(value * f) / f;
  };
  const visitLabel = new Map(inputs.study.visits.map((v) => [v.id, v.label]));
  const labelOf = (visit: string): string => visitLabel.get(visit) ?? (visit === 'unscheduled' ? 'Unscheduled' : visit);
  const armDef = inputs.study.arms.find((a) => a.name === inputs.arm);
  const target = armDef?.troughTarget
    ? { low: armDef.troughTarget.low, high: armDef.troughTarget.high, unit: armDef.troughTarget.unit }
    : undefined;
  const troughs = inputs.values
    .filter((v) => v.measureId === 'sirolimus-trough')
    .map((v) => ({
      value: round(v.value, 'sirolimus-trough'),
      date: v.effective,
      status: target ? classifyTrough(v.value, target) : ('in-range' as TroughClass),
    }));
  const counting = countingValues(inputs);
  const platelets = lab(inputs, 'platelets', counting.get('platelets')?.get('baseline'), round);
  const fibrinogen = lab(inputs, 'fibrinogen', counting.get('fibrinogen')?.get('baseline'), round);
  const order = new Map(inputs.study.visits.map((v, i) => [v.id, i]));
  const volume = outcomes
    .filter((o) => o.status !== 'entered-in-error' && o.code?.coding?.some((c) => c.code === 'volume-response'))
    .map((o) => ({ o, visit: o.extension?.find((e) => e.url.endsWith('/visit'))?.valueCoding?.code ?? '' }))
    .filter((x) => x.o.valueCodeableConcept)
    .sort((a, b) => (order.get(a.visit) ?? -1) - (order.get(b.visit) ?? -1))
    .at(-1);
  const pct = volume
    ? outcomes.find(
        (o) =>
          o.code?.coding?.some((c) => c.code === 'volume-percent-change') &&
          o.extension?.some((e) => e.valueCoding?.code === volume.visit),
      )?.valueQuantity?.value
    : undefined;
  const states = new Map(
    visitComplianceOutcomes(inputs, today).map((v) => [v.visit, v.result.kind === 'category' ? v.result.code : '']),
  );
  const visits: VisitStatus[] = inputs.study.visits.map((v) => ({
    id: v.id,
    label: v.label,
    state: states.get(v.id) ?? 'unknown',
    windowStart: inputs.start ? addDays(inputs.start, v.earliestDay) : undefined,
    windowEnd: inputs.start ? addDays(inputs.start, v.latestDay) : undefined,
  }));
  // The safety rule reads the unrounded result: 19.6 is below 20 even though it is shown as 20.
  const rawPlatelets = inputs.values.filter((v) => v.measureId === 'platelets').at(-1)?.value;
  const critical =
    platelets && rawPlatelets !== undefined && rawPlatelets < plateletsCriticalBelow
      ? `Platelets ${platelets.latest} ${unitWords('10*9/L')} on ${platelets.latestDate.slice(0, 10)}, below ${plateletsCriticalBelow}`
      : undefined;
  const series = (measureId: string): SeriesPoint[] =>
    inputs.values
      .filter((v) => v.measureId === measureId)
      .map((v) => ({ date: v.effective, value: round(v.value, measureId), visit: labelOf(v.visit) }));
  const volumeByVisit = outcomes
    .filter(
      (o) =>
        o.status !== 'entered-in-error' &&
        o.code?.coding?.some((c) => c.code === 'volume-response') &&
        o.valueCodeableConcept,
    )
    .map((o) => ({
      visit: o.extension?.find((e) => e.url.endsWith('/visit'))?.valueCoding?.code ?? '',
      category: o.valueCodeableConcept?.coding?.[0]?.code ?? '',
    }))
    .sort((a, b) => (order.get(a.visit) ?? -1) - (order.get(b.visit) ?? -1))
    .map((v) => ({ ...v, visit: labelOf(v.visit) }));
  const lastTrough = troughs.at(-1);
  return {
    series: { platelets: series('platelets'), fibrinogen: series('fibrinogen'), lesionVolume: series('lesion-volume') },
    volumeByVisit,
    studyLabel: inputs.study.shortName
      ? `${inputs.study.shortName} (${inputs.study.identifier.value})`
      : inputs.study.identifier.value,
    studyId: inputs.study.id,
    studyShortName: inputs.study.shortName ?? inputs.study.identifier.value,
    blinded: false,
    researchSubjectId: inputs.researchSubjectId,
    patientId: inputs.patientId,
    arm: inputs.arm,
    target,
    lastTrough: lastTrough
      ? {
          ...lastTrough,
          ageDays: daysSince(lastTrough.date, today),
          stale: daysSince(lastTrough.date, today) > troughStaleDays,
        }
      : undefined,
    troughs,
    decimals,
    troughStaleDays,
    platelets,
    fibrinogen,
    volumeResponse: volume
      ? {
          visit: labelOf(volume.visit),
          category: volume.o.valueCodeableConcept?.coding?.[0]?.code ?? '',
          percentChange: pct === undefined ? undefined : Math.round(pct),
        }
      : undefined,
    visits,
    nextVisit: visits.find((v) => v.state === 'due' || v.state === 'not-yet-due'),
    overdue: visits.filter((v) => v.state === 'overdue'),
    openAdverseEvents: adverseEvents
      .filter((a) => !a.outcome?.coding?.some((c) => CLOSED_AE_OUTCOMES.has(c.code ?? '')))
      .map((a) => ({
        term: a.event?.coding?.[0]?.display ?? a.event?.text ?? 'adverse event',
        grade: a.extension?.find((e) => e.url === GRADE_EXT)?.valueCodeableConcept?.coding?.[0]?.code,
        date: a.date ?? a.detected,
      })),
    activeFlags: flags
      .filter((f) => f.status === 'active')
      .map((f) => ({
        text: f.code?.text ?? f.code?.coding?.[0]?.display ?? 'flag',
        armRevealing:
          f.meta?.security?.some(
            (l) => l.system === ARM_REVEALING_SECURITY_LABEL.system && l.code === ARM_REVEALING_SECURITY_LABEL.code,
          ) ?? false,
      })),
    critical,
  };
}
