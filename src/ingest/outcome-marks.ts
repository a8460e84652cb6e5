/**
 * Outcomes depend on more than results: a ResearchSubject's arm, treatment start (which places
 * every value in the visit schedule) and status, its Patient's birth date (age forms, eligibility),
 * and the patient's sirolimus doses (the dose estimate). A write to any of these marks the subjects
 * concerned, in the writing transaction, as a kept result does.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../store/db.ts';
import { subjectsOfPatient } from '../store/outcome-store.ts';

const DOSE_TYPES: ReadonlySet<string> = new Set(['MedicationRequest', 'MedicationStatement']);

/**
 * `written`: the resource as written (absent for a delete); `before`: the stored JSON it replaces,
 * read only for the few types that need it (a dose moved to another patient changes both).
 */
export async function subjectsChangedBy(
  q: Queryable,
  type: string,
  id: string,
  written: Resource | undefined,
  before?: string | null,
): Promise<string[]> {
  if (type === 'ResearchSubject') return [id];
  if (type === 'Patient') return subjectsOfPatient(q, id);
  if (!DOSE_TYPES.has(type)) return [];
  const versions = [written, before ? (JSON.parse(before) as Resource) : undefined];
  const patients = new Set<string>();
  for (const v of versions) {
    const ref = (v as { subject?: { reference?: string } } | undefined)?.subject?.reference;
    if (ref?.startsWith('Patient/')) patients.add(ref.slice('Patient/'.length));
  }
  const marks: string[] = [];
  for (const p of patients) marks.push(...(await subjectsOfPatient(q, p)));
  return marks;
}
