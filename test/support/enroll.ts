/** Test helper: a Patient and its ResearchSubject in NCT04775173, written as the trial coordinator (admin) would. */
import type { TestService } from './test-service.ts';

export interface EnrollOptions {
  birthDate?: string;
  identifier?: { system: string; value: string };
  status?: string;
  arm?: string;
  /** Treatment start (period.start); omit for a subject still in screening. */
  start?: string;
}

/** Returns the ResearchSubject id. */
export async function enroll(s: TestService, patientId: string, o: EnrollOptions = {}): Promise<string> {
  const patient = await s.call(`/fhir/Patient/${patientId}`, {
    method: 'PUT',
    body: JSON.stringify({
      resourceType: 'Patient',
      id: patientId,
      ...(o.birthDate ? { birthDate: o.birthDate } : {}),
      ...(o.identifier ? { identifier: [o.identifier] } : {}),
    }),
  });
  if (patient.status >= 300) throw new Error(`Patient ${patientId}: ${patient.status} ${await patient.text()}`);
  const withArm = o.start !== undefined || o.arm !== undefined;
  const rs = await s.call('/fhir/ResearchSubject', {
    method: 'POST',
    body: JSON.stringify({
      resourceType: 'ResearchSubject',
      status: o.status ?? 'on-study',
      study: { reference: 'ResearchStudy/nct04775173' },
      individual: { reference: `Patient/${patientId}` },
      ...(withArm ? { assignedArm: o.arm ?? 'low-dose' } : {}),
      ...(o.start ? { period: { start: o.start } } : {}),
    }),
  });
  if (rs.status !== 201) throw new Error(`ResearchSubject for ${patientId}: ${rs.status} ${await rs.text()}`);
  return ((await rs.json()) as { id: string }).id;
}
