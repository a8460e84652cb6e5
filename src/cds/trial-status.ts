/**
 * What a clinician needs to see at a glance about a child in one study, computed from the subject's
 * trial records and published outcomes, with what to show taken from the study's declarations: arm
 * and the drug level its intervention targets, the last level against the target, the labs the
 * declared outcomes read (against the declared baseline visit), the declared volume responses so
 * far, the visit schedule, open adverse events and Flags. Nothing here names a study's measure,
 * visit or outcome. Pure: the loader gathers the inputs.
 */
import type { AdverseEvent, Flag, Observation } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import { toCanonicalUnit } from '../mapping/ucum.ts';
import { countingValues } from '../outcomes/compute/counting.ts';
import { visitComplianceOutcomes } from '../outcomes/compute/eligibility-and-visits.ts';
import { classifyTrough, type TroughClass } from '../outcomes/rules/trough.ts';
import type { SubjectInputs } from '../outcomes/subject-inputs.ts';
import { addDays } from './dates.ts';
import { daysSince, unitWords } from './words.ts';

export interface LabStatus {
  measureId: string;
  /** The measure's display in study.json. */
  label: string;
  /** The measure's UCUM unit. */
  unit: string;
  /** Undefined while the child has no value yet (the page still shows the measure, empty). */
  latest: number | undefined;
  latestDate: string | undefined;
  baseline: number | undefined;
  /** Every value over time, for the trial page's chart. */
  series: SeriesPoint[];
}

/** A declared volume response (rule volume-response): its latest category and its course. */
export interface ResponseStatus {
  outcome: string;
  /** The outcome's display in study.json. */
  label: string;
  measureId: string;
  measureLabel: string;
  unit: string;
  latest: { visit: string; category: string; display: string; percentChange: number | undefined } | undefined;
  /** Category by follow-up visit (the visit's label). */
  byVisit: { visit: string; category: string; display: string }[];
  /** The measure's values over time. */
  series: SeriesPoint[];
}

/** The drug level the arm's intervention targets. */
export interface TroughMeasure {
  measureId: string;
  /** The measure's display in study.json ("Sirolimus trough, whole blood"). */
  label: string;
  drug: string;
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
  /** The drug level the arm targets; undefined when its interventions declare no trough target. */
  trough: TroughMeasure | undefined;
  target: { low: number; high: number; unit: string } | undefined;
  lastTrough: { value: number; date: string; status: TroughClass; ageDays: number; stale: boolean } | undefined;
  troughs: { value: number; date: string; status: TroughClass }[];
  /** Decimal places each measure is shown with (the study definition's), by measure id. */
  decimals: Record<string, number>;
  /** The measures the declared change-from-baseline and threshold outcomes read, in declaration order. */
  labs: LabStatus[];
  /** The declared volume responses. */
  responses: ResponseStatus[];
  visits: VisitStatus[];
  nextVisit: VisitStatus | undefined;
  overdue: VisitStatus[];
  openAdverseEvents: { term: string; grade: string | undefined; date: string | undefined }[];
  activeFlags: { text: string; armRevealing: boolean }[];
  /** Safety rule: the platelet count (the measure graded as CTCAE platelet count decreased) below the configured threshold. */
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

/** The study's measures the declared lab outcomes read: change from baseline, threshold conditions. */
function labMeasures(inputs: SubjectInputs): string[] {
  const ids: string[] = [];
  for (const o of inputs.study.outcomes) {
    if (o.rule === 'change-from-baseline') ids.push(o.measure);
    if (o.rule === 'threshold-response') ids.push(...o.conditions.map((c) => c.measure));
  }
  return [...new Set(ids)];
}

const PLATELETS_UNIT = '10*9/L';

export function trialStatus(
  inputs: SubjectInputs,
  outcomes: readonly Observation[],
  flags: readonly Flag[],
  adverseEvents: readonly AdverseEvent[],
  today: string,
  plateletsCriticalBelow: number,
  troughStaleDays = 35,
): TrialStatus {
  const study = inputs.study;
  const decimals = Object.fromEntries(study.measures.map((m) => [m.id, m.decimals]));
  // Converted values carry many decimals; each measure is read to the precision its study declares.
  const round: Round = (value, measureId) => {
    const f = 10 ** (decimals[measureId] ?? 2);
    return Math.round(value * f) / f;
  };
  const measureOf = (id: string) => study.measures.find((m) => m.id === id);
  const visitLabel = new Map(study.visits.map((v) => [v.id, v.label]));
  const labelOf = (visit: string): string => visitLabel.get(visit) ?? (visit === 'unscheduled' ? 'Unscheduled' : visit);
  const valuesOf = (measureId: string) => inputs.values.filter((v) => v.measureId === measureId);
  const series = (measureId: string): SeriesPoint[] =>
    valuesOf(measureId).map((v) => ({ date: v.effective, value: round(v.value, measureId), visit: labelOf(v.visit) }));
  const visitOf = (o: Observation): string =>
    o.extension?.find((e) => e.url.endsWith('/visit'))?.valueCoding?.code ?? '';
  const live = outcomes.filter((o) => o.status !== 'entered-in-error');
  const coded = (code: string) => live.filter((o) => o.code?.coding?.some((c) => c.code === code));
  const order = new Map(study.visits.map((v, i) => [v.id, i]));
  const byVisitOrder = (a: string, b: string) => (order.get(a) ?? -1) - (order.get(b) ?? -1);

  const armDef = study.arms.find((a) => a.name === inputs.arm);
  const targetDef = armDef?.troughTarget;
  const intervention = armDef?.interventions.find((i) => i.troughTarget?.measure === targetDef?.measure);
  const troughMeasure = targetDef ? measureOf(targetDef.measure) : undefined;
  const trough: TroughMeasure | undefined =
    targetDef && troughMeasure && intervention
      ? {
          measureId: troughMeasure.id,
          label: troughMeasure.display,
          drug: intervention.drug,
          unit: troughMeasure.unit,
        }
      : undefined;
  const target = targetDef ? { low: targetDef.low, high: targetDef.high, unit: targetDef.unit } : undefined;
  const troughs =
    trough && target
      ? valuesOf(trough.measureId).map((v) => ({
          value: round(v.value, trough.measureId),
          date: v.effective,
          status: classifyTrough(v.value, target),
        }))
      : [];

  const counting = countingValues(inputs);
  const labs: LabStatus[] = [];
  for (const id of labMeasures(inputs)) {
    const m = measureOf(id);
    const last = valuesOf(id).at(-1);
    if (!m) continue;
    const baseline = counting.get(id)?.get(study.baselineVisit);
    labs.push({
      measureId: id,
      label: m.display,
      unit: m.unit,
      latest: last ? round(last.value, id) : undefined,
      latestDate: last?.effective,
      baseline: baseline ? round(baseline.value, id) : undefined,
      series: series(id),
    });
  }

  const responses: ResponseStatus[] = [];
  for (const o of study.outcomes) {
    if (o.rule !== 'volume-response') continue;
    const m = measureOf(o.measure);
    const display = new Map(o.categories.map((c) => [c.code, c.display]));
    const byVisit = coded(o.id)
      .filter((x) => x.valueCodeableConcept)
      .map((x) => ({ visit: visitOf(x), category: x.valueCodeableConcept?.coding?.[0]?.code ?? '' }))
      .sort((a, b) => byVisitOrder(a.visit, b.visit));
    const last = byVisit.at(-1);
    const pct =
      last && o.percentChange
        ? coded(o.percentChange.id).find((x) => visitOf(x) === last.visit)?.valueQuantity?.value
        : undefined;
    responses.push({
      outcome: o.id,
      label: o.display,
      measureId: o.measure,
      measureLabel: m?.display ?? o.measure,
      unit: m?.unit ?? '',
      latest: last
        ? {
            visit: labelOf(last.visit),
            category: last.category,
            display: display.get(last.category) ?? last.category,
            percentChange: pct === undefined ? undefined : Math.round(pct),
          }
        : undefined,
      byVisit: byVisit.map((v) => ({
        visit: labelOf(v.visit),
        category: v.category,
        display: display.get(v.category) ?? v.category,
      })),
      series: series(o.measure),
    });
  }

  const states = new Map(
    visitComplianceOutcomes(inputs, today).map((v) => [v.visit, v.result.kind === 'category' ? v.result.code : '']),
  );
  const visits: VisitStatus[] = study.visits.map((v) => ({
    id: v.id,
    label: v.label,
    state: states.get(v.id) ?? 'unknown',
    windowStart: inputs.start ? addDays(inputs.start, v.earliestDay) : undefined,
    windowEnd: inputs.start ? addDays(inputs.start, v.latestDay) : undefined,
  }));

  // The safety rule reads the measure the study grades as CTCAE platelet count decreased, unrounded
  // (19.6 is below 20 even though it is shown as 20), in the threshold's unit (10*9/L).
  const plateletMeasure = study.measures.find((m) => m.adverseEvent?.ctcae === 'platelet-count-decreased');
  const lastPlatelets = plateletMeasure ? valuesOf(plateletMeasure.id).at(-1) : undefined;
  let critical: string | undefined;
  if (plateletMeasure && lastPlatelets) {
    let inThresholdUnit: number | undefined;
    try {
      inThresholdUnit = toCanonicalUnit(lastPlatelets.value, plateletMeasure.unit, PLATELETS_UNIT, {
        aliases: {},
      }).value;
    } catch {
      inThresholdUnit = undefined;
    }
    if (inThresholdUnit !== undefined && inThresholdUnit < plateletsCriticalBelow) {
      critical = `Platelets ${round(lastPlatelets.value, plateletMeasure.id)} ${unitWords(plateletMeasure.unit)} on ${lastPlatelets.effective.slice(0, 10)}, below ${plateletsCriticalBelow}`;
    }
  }

  const lastTrough = troughs.at(-1);
  return {
    studyLabel: study.shortName ? `${study.shortName} (${study.identifier.value})` : study.identifier.value,
    studyId: study.id,
    studyShortName: study.shortName ?? study.identifier.value,
    blinded: false,
    researchSubjectId: inputs.researchSubjectId,
    patientId: inputs.patientId,
    arm: inputs.arm,
    trough,
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
    labs,
    responses,
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
