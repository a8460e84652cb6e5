/**
 * Profiles generated from a study definition, so that adding a measure to study.json adds its
 * profiles with no code change: one for the result an EHR sends (what the adapter needs to read
 * from it) and one for the trial record the adapter derives (one consistent shape per measure).
 * Their ids carry the study id: two studies may keep a measure of one id in different units.
 */
import type { StudyDefinition, StudyMeasure } from '../study-definition.ts';
import type { ProfileSpec } from './constrain.ts';
import { PROFILE_BASE } from './profile-base.ts';

const PROJECT_BASE = 'https://khe-trial.example.org/fhir';
const RETRACTED = "status in ('entered-in-error' | 'cancelled')";
const DEFAULT_VALUE_PATH = 'Observation.value.ofType(Quantity)';

export function pascal(id: string): string {
  return id
    .split('-')
    .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
    .join('');
}

/** The source: the validator cannot narrow value[x] or check units, so invariants do. */
function sourceSpec(study: StudyDefinition, m: StudyMeasure): ProfileSpec {
  const value = `(${m.fhirpath ?? DEFAULT_VALUE_PATH})`;
  return {
    id: `measure-result-${study.id}-${m.id}`,
    url: measureResultProfileUrl(study.id, m.id),
    name: `MeasureResult${pascal(study.id)}${pascal(m.id)}`,
    title: `${m.display}: result received from an EHR (${study.identifier.value})`,
    description: `What the adapter needs in a received ${m.display} result before it keeps it: a known status, the effective time and, unless the result is retracted, a Quantity value (read by ${m.fhirpath ?? DEFAULT_VALUE_PATH}) with a unit.`,
    baseType: 'Observation',
    required: ['Observation.effective[x]'],
    invariants: [
      { key: 'khe-mr-1', human: 'status is known', expression: "status != 'unknown'" },
      {
        key: 'khe-mr-2',
        human: 'effective time is a dateTime, Period with start, or instant',
        expression:
          'effective.ofType(dateTime).exists() or effective.ofType(Period).start.exists() or effective.ofType(instant).exists()',
      },
      {
        key: 'khe-mr-3',
        human: `a ${m.display} result that is not retracted has a Quantity value`,
        expression: `${RETRACTED} or ${value}.value.exists()`,
      },
      {
        key: 'khe-mr-4',
        human: 'the value states its unit (a UCUM code or a unit the adapter knows an alias for)',
        expression: `${RETRACTED} or ${value}.code.exists() or ${value}.unit.exists()`,
      },
    ],
  };
}

/** The trial record: canonical code, value in the canonical UCUM unit, links to study, subject, visit. */
function recordSpec(study: StudyDefinition, m: StudyMeasure): ProfileSpec {
  return {
    id: `trial-record-${study.id}-${m.id}`,
    url: trialRecordProfileUrl(study.id, m.id),
    name: `TrialRecord${pascal(study.id)}${pascal(m.id)}`,
    title: `${m.display}: trial record (${study.identifier.value})`,
    description: `The adapter's normalised ${m.display} record: derived from the received result, coded ${m.codes.map((c) => `${c.system}|${c.code}`).join(', ')}, value in ${m.unit} (UCUM), linked to the ResearchStudy, ResearchSubject and visit.`,
    baseType: 'Observation',
    required: ['Observation.effective[x]', 'Observation.derivedFrom', 'Observation.identifier'],
    invariants: [
      {
        key: 'khe-tr-1',
        human: `coded as the ${m.id} measure`,
        expression: `code.coding.where(system = '${PROJECT_BASE}/CodeSystem/trial-measure' and code = '${m.id}').exists()`,
      },
      {
        key: 'khe-tr-2',
        human: `the value is in ${m.unit} (UCUM), unless the record is retracted`,
        expression: `${RETRACTED} or value.ofType(Quantity).where(system = 'http://unitsofmeasure.org' and code = '${m.unit}').exists()`,
      },
      {
        key: 'khe-tr-3',
        human: 'linked to its ResearchStudy, ResearchSubject and visit',
        expression: `extension('http://hl7.org/fhir/StructureDefinition/workflow-researchStudy').exists() and extension('${PROJECT_BASE}/StructureDefinition/research-subject').exists() and extension('${PROJECT_BASE}/StructureDefinition/visit').exists()`,
      },
      {
        key: 'khe-tr-4',
        human: 'tagged as a trial record',
        expression: `meta.tag.where(system = '${PROJECT_BASE}/CodeSystem/record-kind' and code = 'trial-record').exists()`,
      },
    ],
  };
}

export function measureProfileSpecs(studies: readonly StudyDefinition[]): ProfileSpec[] {
  return studies.flatMap((s) => s.measures.flatMap((m) => [sourceSpec(s, m), recordSpec(s, m)]));
}

export function measureResultProfileUrl(studyId: string, measureId: string): string {
  return `${PROFILE_BASE}/measure-result-${studyId}-${measureId}`;
}

export function trialRecordProfileUrl(studyId: string, measureId: string): string {
  return `${PROFILE_BASE}/trial-record-${studyId}-${measureId}`;
}
