/**
 * Everything one ResearchSubject's outcomes are computed from, read out of its trial records into
 * plain values: each measure's values with study day and visit, form answers, adverse events and
 * doses of the declared drugs. Pure: the store hands over JSON, this turns it into what the rules take.
 */
import type {
  AdverseEvent,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Patient,
  QuestionnaireResponse,
  ResearchSubject,
  Resource,
} from '@medplum/fhirtypes';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { EXT_VISIT, isTrialRecord, MEASURE_SYSTEM } from '../mapping/trial-extensions.ts';
import type { Enrollment } from '../records/enrollment.ts';
import { localDayNumber, studyDay, UNSCHEDULED } from '../records/visit-window.ts';

export interface MeasureValue {
  /** "Observation/<id>" of the trial record. */
  ref: string;
  measureId: string;
  value: number;
  unit: string;
  effective: string;
  /** Study day (day 0 = treatment start), on the sample's local date. */
  day: number;
  visit: string;
  /** Upper and lower limits of the result's own reference range, in the canonical unit. */
  high?: number | undefined;
  low?: number | undefined;
}

export interface FormAnswers {
  ref: string;
  questionnaire: string;
  authored: string;
  day: number;
  visit: string;
  /** linkId → raw answer (integer, decimal, coding code, string or boolean), first answer only. */
  answers: Map<string, number | string | boolean>;
}

export interface AdverseEventRecord {
  ref: string;
  term: string;
  termCode: string | undefined;
  grade: number | undefined;
  causality: string | undefined;
  date: string | undefined;
  serious: boolean;
  /** Action taken with sirolimus, if the EHR recorded it in the suspect entity's causality method or the outcome. */
  action: string | undefined;
}

export interface DoseRecord {
  ref: string;
  /** RxNorm code of the declared drug. */
  drug: string;
  /** mg per dose (or mg/m2 when the EHR doses by surface area): kept in the unit given. */
  dose: number;
  unit: string;
  start: string;
}

export interface SubjectInputs {
  study: StudyDefinition;
  researchSubjectId: string;
  patientId: string;
  status: string;
  arm: string | undefined;
  /** Treatment start (ResearchSubject.period.start), day 0. */
  start: string | undefined;
  birthDate: string | undefined;
  values: MeasureValue[];
  forms: FormAnswers[];
  adverseEvents: AdverseEventRecord[];
  doses: DoseRecord[];
}

const RETRACTED = new Set(['entered-in-error', 'cancelled']);
const GRADE_EXT = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade';
const CAUSALITY_SYSTEM = 'https://khe-trial.example.org/fhir/CodeSystem/ctcae-attribution';

function visitOf(r: { extension?: { url: string; valueCoding?: { code?: string } }[] }): string {
  return r.extension?.find((e) => e.url === EXT_VISIT)?.valueCoding?.code ?? UNSCHEDULED;
}

function dayOf(when: string, start: string | undefined): number | undefined {
  if (start) return studyDay(when, start);
  return localDayNumber(when);
}

function measureValue(o: Observation, start: string | undefined): MeasureValue | undefined {
  if (RETRACTED.has(o.status) || !o.valueQuantity || typeof o.valueQuantity.value !== 'number') return undefined;
  const measureId = o.code?.coding?.find((c) => c.system === MEASURE_SYSTEM)?.code;
  const effective = o.effectiveDateTime;
  if (!measureId || !effective) return undefined;
  const day = dayOf(effective, start);
  if (day === undefined) return undefined;
  const range = o.referenceRange?.[0];
  return {
    ref: `Observation/${o.id}`,
    measureId,
    value: o.valueQuantity.value,
    unit: o.valueQuantity.code ?? o.valueQuantity.unit ?? '',
    effective,
    day,
    visit: visitOf(o),
    high: range?.high?.value,
    low: range?.low?.value,
  };
}

function formAnswers(qr: QuestionnaireResponse, start: string | undefined): FormAnswers | undefined {
  if (qr.status === 'entered-in-error' || qr.status === 'stopped' || !qr.questionnaire || !qr.authored)
    return undefined;
  const day = dayOf(qr.authored, start);
  if (day === undefined) return undefined;
  const answers = new Map<string, number | string | boolean>();
  const walk = (items: QuestionnaireResponse['item']): void => {
    for (const it of items ?? []) {
      const a = it.answer?.[0];
      if (a && it.linkId) {
        const v =
          a.valueInteger ?? a.valueDecimal ?? a.valueCoding?.code ?? a.valueString ?? a.valueBoolean ?? undefined;
        if (v !== undefined) answers.set(it.linkId, v);
      }
      walk(it.item);
      for (const ans of it.answer ?? []) walk(ans.item);
    }
  };
  walk(qr.item);
  return {
    ref: `QuestionnaireResponse/${qr.id}`,
    questionnaire: qr.questionnaire,
    authored: qr.authored,
    day,
    visit: visitOf(qr),
    answers,
  };
}

function adverseEvent(ae: AdverseEvent): AdverseEventRecord {
  const g = ae.extension?.find((e) => e.url === GRADE_EXT);
  const gradeCode = g?.valueInteger ?? Number(g?.valueCodeableConcept?.coding?.[0]?.code);
  const coding = ae.event?.coding?.[0];
  const causality = ae.suspectEntity
    ?.flatMap((s) => s.causality ?? [])
    .flatMap((c) => c.assessment?.coding ?? [])
    .find((c) => c.system === CAUSALITY_SYSTEM)?.code;
  return {
    ref: `AdverseEvent/${ae.id}`,
    term: coding?.display ?? ae.event?.text ?? coding?.code ?? 'unspecified',
    termCode: coding?.code,
    grade: Number.isInteger(gradeCode) && gradeCode >= 1 && gradeCode <= 5 ? gradeCode : undefined,
    causality,
    date: ae.date ?? ae.detected ?? ae.recordedDate,
    serious: ae.seriousness?.coding?.some((c) => c.code === 'serious' || c.code === 'Serious') ?? false,
    action: ae.suspectEntity?.flatMap((s) => s.causality ?? []).find((c) => c.method?.text)?.method?.text,
  };
}

/** Doses of a drug the study's arms declare (by RxNorm code or name), from dosage doseQuantity. */
function dose(
  r: MedicationRequest | MedicationStatement,
  drugs: readonly { rxnorm: string; names: string[] }[],
): DoseRecord | undefined {
  const dosage = r.resourceType === 'MedicationRequest' ? r.dosageInstruction?.[0] : r.dosage?.[0];
  const q = dosage?.doseAndRate?.[0]?.doseQuantity;
  const start =
    r.resourceType === 'MedicationRequest'
      ? (r.dispenseRequest?.validityPeriod?.start ?? r.authoredOn)
      : (r.effectivePeriod?.start ?? r.effectiveDateTime ?? r.dateAsserted);
  const text = JSON.stringify(r.medicationCodeableConcept ?? {}).toLowerCase();
  const drug = drugs.find((d) => d.names.some((n) => text.includes(n)));
  if (!drug || !q || typeof q.value !== 'number' || !start) return undefined;
  if (r.status === 'entered-in-error' || r.status === 'cancelled') return undefined;
  return { ref: `${r.resourceType}/${r.id}`, drug: drug.rxnorm, dose: q.value, unit: q.code ?? q.unit ?? 'mg', start };
}

/** What a medication of each declared drug may be recorded as. */
function declaredDrugs(study: StudyDefinition): { rxnorm: string; names: string[] }[] {
  const out = new Map<string, string[]>();
  for (const i of study.arms.flatMap((a) => a.interventions)) {
    out.set(
      i.rxnorm,
      [i.drug, ...i.otherNames, i.rxnorm].map((n) => n.toLowerCase()),
    );
  }
  return [...out].map(([rxnorm, names]) => ({ rxnorm, names }));
}

export function buildSubjectInputs(
  study: StudyDefinition,
  subject: ResearchSubject,
  patient: Patient | undefined,
  records: readonly Resource[],
  medications: readonly (MedicationRequest | MedicationStatement)[],
): SubjectInputs {
  const start = subject.period?.start;
  const values: MeasureValue[] = [];
  const forms: FormAnswers[] = [];
  const adverseEvents: AdverseEventRecord[] = [];
  for (const r of records) {
    if (!isTrialRecord(r)) continue;
    if (r.resourceType === 'Observation') {
      const v = measureValue(r, start);
      if (v) values.push(v);
    } else if (r.resourceType === 'QuestionnaireResponse') {
      const f = formAnswers(r, start);
      if (f) forms.push(f);
    } else if (r.resourceType === 'AdverseEvent') {
      adverseEvents.push(adverseEvent(r));
    }
  }
  values.sort((a, b) => a.day - b.day || a.effective.localeCompare(b.effective) || a.ref.localeCompare(b.ref));
  forms.sort((a, b) => a.day - b.day || a.authored.localeCompare(b.authored));
  const drugs = declaredDrugs(study);
  const doses = medications
    .map((m) => dose(m, drugs))
    .filter((d): d is DoseRecord => d !== undefined)
    .sort((a, b) => a.start.localeCompare(b.start));
  return {
    study,
    researchSubjectId: subject.id as string,
    patientId: (subject.individual?.reference ?? '').replace(/^Patient\//, ''),
    status: subject.status,
    arm: subject.assignedArm,
    start,
    birthDate: patient?.birthDate,
    values,
    forms,
    adverseEvents,
    doses,
  };
}

/** The subject as the trial-record link builders take it. */
export function enrollmentOf(inputs: SubjectInputs): Enrollment {
  return {
    researchSubjectId: inputs.researchSubjectId,
    studyId: inputs.study.id,
    patientId: inputs.patientId,
    status: inputs.status,
    assignedArm: inputs.arm,
    start: inputs.start,
  };
}
