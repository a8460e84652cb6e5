/** The synthetic cohort lives beside `npm run demo`, which loads it into a running service. */
export * from '../../src/cli/synthetic-cohort.ts';

import type { Bundle } from '@medplum/fhirtypes';
import type { SyntheticSubject } from '../../src/cli/synthetic-cohort.ts';

/** A coordinator's enrollment of synthetic children in NCT04775173: their Patients and ResearchSubjects, one transaction. */
export function enrollmentBundle(subjects: readonly SyntheticSubject[]): Bundle {
  const entry = subjects.flatMap((c) => [
    {
      resource: {
        resourceType: 'Patient' as const,
        id: c.patientId,
        birthDate: c.birthDate,
        identifier: [{ system: 'urn:synthetic:mrn', value: c.mrn }],
      },
      request: { method: 'PUT' as const, url: `Patient/${c.patientId}` },
    },
    {
      resource: {
        resourceType: 'ResearchSubject' as const,
        status: 'on-study' as const,
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: `Patient/${c.patientId}` },
        assignedArm: c.arm,
        period: { start: c.start },
      },
      request: { method: 'POST' as const, url: 'ResearchSubject' },
    },
  ]);
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
