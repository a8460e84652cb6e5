/**
 * A retained AdverseEvent becomes a trial record in the shape of the HL7 AE Clinical Research R4
 * Backport (STU1): actuality actual, the CTCAE grade in the ae-grade extension, the ResearchSubject
 * in research-subject-ref, the study in AdverseEvent.study, causality in suspectEntity. The checks
 * here are what the trial needs from an EHR's AE: a grade of 1–5 (CTCAE v4.0) and causality on the
 * 5-level NCI attribution scale when given.
 */
import type { AdverseEvent, CodeableConcept } from '@medplum/fhirtypes';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import {
  AE_GRADE_SYSTEM,
  CAUSALITY_SYSTEM,
  EXT_AE_GRADE,
  EXT_AE_RESEARCH_SUBJECT,
  EXT_DERIVED_FROM,
  TRIAL_RECORD_IDENTIFIER_SYSTEM,
  TRIAL_RECORD_TAG,
} from '../mapping/trial-extensions.ts';
import type { Enrollment } from './enrollment.ts';
import { trialLinks, visitOf } from './trial-links.ts';
import { trialRecordId } from './trial-record.ts';

/** CTCAE v4.03: grades 1–5 (domain notes 4.1). */
export const CTCAE_GRADES: readonly string[] = ['1', '2', '3', '4', '5'];
/** NCI CTCAE attribution (domain notes 4.4). */
export const CAUSALITY_LEVELS: readonly string[] = ['unrelated', 'unlikely', 'possible', 'probable', 'definite'];

export interface AdverseEventIssue {
  path: string;
  message: string;
}

/** The grade of an AE: the backport extension (CodeableConcept or integer). */
export function gradeOf(ae: AdverseEvent): string | undefined {
  const e = ae.extension?.find((x) => x.url === EXT_AE_GRADE);
  if (!e) return undefined;
  if (typeof e.valueInteger === 'number') return String(e.valueInteger);
  return e.valueCodeableConcept?.coding?.find((c) => c.system === AE_GRADE_SYSTEM || !c.system)?.code ?? '?';
}

function causalityCodes(c: CodeableConcept | undefined): string[] {
  return (c?.coding ?? []).filter((x) => x.system === CAUSALITY_SYSTEM).map((x) => x.code ?? '');
}

export function checkAdverseEvent(ae: AdverseEvent): AdverseEventIssue[] {
  const out: AdverseEventIssue[] = [];
  if (!ae.event?.coding?.length && !ae.event?.text) {
    out.push({ path: 'AdverseEvent.event', message: 'the adverse event term (event) is required' });
  }
  if (!ae.date && !ae.detected && !ae.recordedDate) {
    out.push({ path: 'AdverseEvent.date', message: 'an onset date (date, detected or recordedDate) is required' });
  }
  const grade = gradeOf(ae);
  if (grade !== undefined && !CTCAE_GRADES.includes(grade)) {
    out.push({ path: `AdverseEvent.extension('${EXT_AE_GRADE}')`, message: `CTCAE grade ${grade} is not 1–5` });
  }
  (ae.suspectEntity ?? []).forEach((s, i) => {
    (s.causality ?? []).forEach((c, j) => {
      for (const code of causalityCodes(c.assessment)) {
        if (!CAUSALITY_LEVELS.includes(code)) {
          out.push({
            path: `AdverseEvent.suspectEntity[${i}].causality[${j}].assessment`,
            message: `causality ${code} is not one of ${CAUSALITY_LEVELS.join(', ')}`,
          });
        }
      }
    });
  });
  return out;
}

export function deriveTrialAdverseEvent(
  source: AdverseEvent,
  sourceRef: string,
  study: StudyDefinition,
  enrollment: Enrollment,
): AdverseEvent {
  const id = trialRecordId(sourceRef, enrollment.researchSubjectId, 'adverse-event');
  const when = source.date ?? source.detected ?? source.recordedDate;
  const kept = (source.extension ?? []).filter((e) => e.url === EXT_AE_GRADE);
  // The EHR's narrative and meta describe its resource, not this record.
  const { id: _id, meta: _meta, text: _text, extension: _ext, identifier: _idf, ...rest } = source;
  return {
    ...rest,
    resourceType: 'AdverseEvent',
    id,
    meta: { tag: [TRIAL_RECORD_TAG] },
    extension: [
      ...kept,
      {
        url: EXT_AE_RESEARCH_SUBJECT,
        valueReference: { reference: `ResearchSubject/${enrollment.researchSubjectId}` },
      },
      ...trialLinks(study, enrollment, visitOf(when, enrollment, study)),
      { url: EXT_DERIVED_FROM, valueReference: { reference: sourceRef } },
    ],
    identifier: { system: TRIAL_RECORD_IDENTIFIER_SYSTEM, value: id },
    actuality: 'actual',
    subject: { reference: `Patient/${enrollment.patientId}` },
    study: [{ reference: `ResearchStudy/${study.id}` }],
  };
}
