/**
 * Outcomes depend on the enrollment as much as on results: a ResearchSubject's arm, treatment start
 * (which places every value in the visit schedule) and status, and its Patient's birth date (age
 * forms, eligibility). A write to either marks the subjects concerned, in the writing transaction.
 */
import type { Queryable } from '../../store/db.ts';
import { subjectsOfPatient } from '../../store/outcome-store.ts';

export async function enrollmentMarks(q: Queryable, type: string, id: string): Promise<string[]> {
  if (type === 'ResearchSubject') return [id];
  if (type === 'Patient') return subjectsOfPatient(q, id);
  return [];
}
