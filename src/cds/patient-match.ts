/**
 * Which enrolled child an EHR's patient is. The EHR's ids are its own, so the hospital MRN
 * (PATIENT_MRN_SYSTEM) decides whenever the EHR's Patient carries one; the EHR's id is trusted only
 * when no MRN is configured or given (a feed that shares the EHR's ids).
 */
import type { Identifier, Patient } from '@medplum/fhirtypes';
import type { Queryable } from '../store/db.ts';
import { findPatientIdsByIdentifier } from '../store/patient-lookup.ts';

export function mrnOf(
  patient: Pick<Patient, 'identifier'> | undefined,
  mrnSystem: string | undefined,
): string | undefined {
  if (!mrnSystem) return undefined;
  return patient?.identifier?.find((i: Identifier) => i.system === mrnSystem && i.value)?.value;
}

/** Candidate adapter Patient ids, best first. */
export async function candidatePatients(
  q: Queryable,
  ehr: { id: string | undefined; patient: Pick<Patient, 'identifier'> | undefined },
  mrnSystem: string | undefined,
): Promise<string[]> {
  const mrn = mrnOf(ehr.patient, mrnSystem);
  if (mrn !== undefined && mrnSystem) return findPatientIdsByIdentifier(q, mrnSystem, mrn);
  return ehr.id ? [ehr.id] : [];
}
