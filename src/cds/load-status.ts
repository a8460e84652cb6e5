/**
 * Gathers one patient's trial status from the adapter's store, once per study the child is on
 * (a child may be in two): the ResearchSubject, the child's Patient (or the one the EHR
 * prefetched), trial records and published outcomes, Flags and adverse events. Drug levels the EHR
 * prefetched (coded as the measure the arm's intervention targets) are taken into account too, so
 * the card shows a result the lab has just released even before its feed reached the adapter.
 */
import type { AdverseEvent, Bundle, Flag, Observation, Patient, ResearchSubject, Resource } from '@medplum/fhirtypes';
import type { StudyDefinition, StudyMeasure } from '../mapping/study-definition.ts';
import { TRIAL_RECORD_TAG } from '../mapping/trial-extensions.ts';
import { toCanonicalUnit } from '../mapping/ucum.ts';
import { buildSubjectInputs, type MeasureValue } from '../outcomes/subject-inputs.ts';
import { studyDay, visitForDay } from '../records/visit-window.ts';
import type { Queryable } from '../store/db.ts';
import { readByReference, readBySubjects } from '../store/outcome-store.ts';
import { readMany } from '../store/resource-store.ts';
import { type TrialStatus, trialStatus } from './trial-status.ts';

/** ResearchSubject statuses of a child on the trial (candidates and screening have no card yet). */
const ON_TRIAL = new Set([
  'on-study',
  'on-study-intervention',
  'on-study-observation',
  'follow-up',
  'eligible',
  'pending-on-study',
]);

const tagged = (r: Resource, code: string): boolean =>
  r.meta?.tag?.some((t) => t.system === TRIAL_RECORD_TAG.system && t.code === code) ?? false;

/** The drug level the subject's arm targets, as the study declares it. */
function troughMeasureOf(subject: ResearchSubject, study: StudyDefinition): StudyMeasure | undefined {
  const target = study.arms.find((a) => a.name === subject.assignedArm)?.troughTarget;
  return target ? study.measures.find((m) => m.id === target.measure) : undefined;
}

/** Every code a drug level a study targets is sent under: what the CDS service asks the EHR to prefetch. */
export function troughPrefetchCodes(studies: readonly StudyDefinition[]): string[] {
  const codes = new Set<string>();
  for (const s of studies) {
    for (const a of s.arms) {
      const m = a.troughTarget ? s.measures.find((x) => x.id === a.troughTarget?.measure) : undefined;
      for (const c of m?.codes ?? []) codes.add(`${c.system}|${c.code}`);
    }
  }
  return [...codes];
}

function prefetchedTroughs(
  prefetch: Record<string, unknown> | undefined,
  subject: ResearchSubject,
  study: StudyDefinition,
): MeasureValue[] {
  const measure = troughMeasureOf(subject, study);
  if (!measure) return [];
  const codes = new Set(measure.codes.map((c) => `${c.system}|${c.code}`));
  const out: MeasureValue[] = [];
  for (const value of Object.values(prefetch ?? {})) {
    const bundle = value as Bundle | undefined;
    if (bundle?.resourceType !== 'Bundle') continue;
    for (const e of bundle.entry ?? []) {
      const o = e.resource as Observation | undefined;
      if (o?.resourceType !== 'Observation' || o.status === 'entered-in-error' || o.status === 'cancelled') continue;
      if (!o.code?.coding?.some((c) => codes.has(`${c.system}|${c.code}`))) continue;
      const q = o.valueQuantity;
      const when = o.effectiveDateTime;
      if (!q || typeof q.value !== 'number' || !when) continue;
      try {
        const v = toCanonicalUnit(q.value, q.code ?? q.unit ?? '', measure.unit, {
          molarMass: measure.molarMass,
          aliases: {},
        });
        const start = subject.period?.start;
        const d = start ? studyDay(when, start) : undefined;
        out.push({
          ref: `prefetch/${o.id ?? out.length}`,
          measureId: measure.id,
          value: v.value,
          unit: measure.unit,
          effective: when,
          day: d ?? 0,
          visit: d === undefined ? 'unscheduled' : visitForDay(d, study.visits),
        });
      } catch {
        // A prefetched value in a unit the adapter cannot convert is left out of the card.
      }
    }
  }
  return out;
}

/** The child's status in each study it is on, in the order the studies are loaded. */
export async function loadTrialStatuses(
  q: Queryable,
  studies: readonly StudyDefinition[],
  patientId: string,
  options: {
    today: string;
    plateletsCriticalBelow: number;
    troughStaleDays?: number;
    prefetch?: Record<string, unknown> | undefined;
  },
): Promise<TrialStatus[]> {
  const subjects = (await readByReference(q, ['ResearchSubject'], 'individual', [`Patient/${patientId}`]))
    .map((r) => JSON.parse(r.content) as ResearchSubject)
    .filter((s) => ON_TRIAL.has(s.status));
  const onStudy: { subject: ResearchSubject; study: StudyDefinition }[] = [];
  for (const study of studies) {
    // One status per study: were the child enrolled twice in one study, the first enrolment.
    const subject = subjects.find((s) => s.study?.reference === `ResearchStudy/${study.id}`);
    if (subject) onStudy.push({ subject, study });
  }
  if (onStudy.length === 0) return [];
  const prefetched = options.prefetch?.patient as Patient | undefined;
  const patient =
    prefetched?.resourceType === 'Patient'
      ? prefetched
      : ((await readMany(q, [{ resourceType: 'Patient', id: patientId }])).map(
          (p) => JSON.parse(p.content ?? '{}') as Patient,
        )[0] ?? undefined);
  const statuses: TrialStatus[] = [];
  for (const { subject, study } of onStudy) {
    const records = (await readBySubjects(q, ['Observation', 'AdverseEvent', 'Flag'], [subject.id as string])).map(
      (r) => JSON.parse(r.content) as Resource,
    );
    const inputs = buildSubjectInputs(study, subject, patient, records, []);
    const known = new Set(inputs.values.map((v) => `${v.measureId}|${v.effective}|${v.value}`));
    for (const t of prefetchedTroughs(options.prefetch, subject, study)) {
      if (!known.has(`${t.measureId}|${t.effective}|${t.value}`)) inputs.values.push(t);
    }
    inputs.values.sort((a, b) => a.day - b.day || a.effective.localeCompare(b.effective));
    statuses.push(
      trialStatus(
        inputs,
        records.filter((r): r is Observation => r.resourceType === 'Observation' && tagged(r, 'outcome')),
        records.filter((r): r is Flag => r.resourceType === 'Flag'),
        records.filter((r): r is AdverseEvent => r.resourceType === 'AdverseEvent' && tagged(r, 'trial-record')),
        options.today,
        options.plateletsCriticalBelow,
        options.troughStaleDays,
      ),
    );
  }
  return statuses;
}
