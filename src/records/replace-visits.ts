/**
 * A trial record is placed in the visit schedule when it is derived, from the treatment start known
 * then. The start is often set later (randomisation after the screening results arrived) or
 * corrected; the records already placed must move with it, or baseline values stay "unscheduled"
 * and every change from baseline is lost. This says which records are misplaced and where they go.
 */
import type { AdverseEvent, Extension, Observation, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { EXT_VISIT, isTrialRecord, VISIT_SYSTEM } from '../mapping/trial-extensions.ts';
import { visitAt } from './visit-window.ts';

/** When the value was taken, as the record's derivation placed it (trial-record.ts and siblings). */
function takenAt(record: Resource): string | undefined {
  if (record.resourceType === 'Observation') return (record as Observation).effectiveDateTime;
  if (record.resourceType === 'QuestionnaireResponse') return (record as QuestionnaireResponse).authored;
  if (record.resourceType === 'AdverseEvent') {
    const ae = record as AdverseEvent;
    return ae.date ?? ae.detected ?? ae.recordedDate;
  }
  return undefined;
}

/** Registry record NCT04775173 visit windows, counted from the current treatment start. */
export function visitNow(record: Resource, study: StudyDefinition, treatmentStart: string | undefined): string {
  return visitAt(takenAt(record), treatmentStart, study.visits);
}

function storedVisit(record: Resource): string | undefined {
  const ext = (record as { extension?: Extension[] }).extension;
  return ext?.find((e) => e.url === EXT_VISIT)?.valueCoding?.code;
}

/** The record placed in `visit`: only its visit extension changes. */
export function withVisit<T extends Resource>(record: T, visit: string): T {
  const ext = ((record as { extension?: Extension[] }).extension ?? []).map((e) =>
    e.url === EXT_VISIT ? { url: EXT_VISIT, valueCoding: { system: VISIT_SYSTEM, code: visit } } : e,
  );
  return { ...record, extension: ext };
}

/** Trial records whose stored visit is not the one the current treatment start gives. */
export function misplacedRecords(
  records: readonly Resource[],
  study: StudyDefinition,
  treatmentStart: string | undefined,
): { record: Resource; visit: string }[] {
  const out: { record: Resource; visit: string }[] = [];
  for (const record of records) {
    if (!isTrialRecord(record)) continue;
    const stored = storedVisit(record);
    if (stored === undefined) continue;
    const visit = visitNow(record, study, treatmentStart);
    if (visit !== stored) out.push({ record, visit });
  }
  return out;
}
