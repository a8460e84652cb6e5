/** The synthetic cohort lives beside `npm run demo`, which loads it into a running service. */
export * from '../../src/cli/synthetic-cohort.ts';

import type { Bundle } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import {
  feedBundle,
  observationOf,
  type SyntheticSubject,
  type SyntheticValue,
} from '../../src/cli/synthetic-cohort.ts';
import type { TestService } from './test-service.ts';

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

/** Enrols the children (admin) and sends each child's results as the EHR feed does, one transaction a child. */
export async function enrolAndFeed(s: TestService, subjects: readonly SyntheticSubject[]): Promise<void> {
  const enrolled = await s.call('/fhir', { method: 'POST', body: JSON.stringify(enrollmentBundle(subjects)) });
  expect(enrolled.status).toBe(200);
  for (const c of subjects) {
    const fed = await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(feedBundle(c)) });
    expect(fed.status).toBe(200);
  }
}

/** The child's first sirolimus trough sent again late in the year as a new result (its own id, day and value in ng/mL). */
export function lateTrough(c: SyntheticSubject, id: string, day: number, value: number): SyntheticValue {
  const trough = c.values.find((v) => v.measure === 'sirolimus-trough');
  if (!trough) throw new Error(`synthetic subject ${c.patientId} has no trough`);
  return { ...trough, id, day, value, sent: { value, unit: 'ng/mL' } };
}

/** One result as most interface engines send it: a one-entry transaction Bundle from the EHR feed, answered 200. */
export async function postResult(s: TestService, c: SyntheticSubject, value: SyntheticValue): Promise<void> {
  const r = await s.call('/fhir', {
    method: 'POST',
    role: 'ehr-feed',
    body: JSON.stringify({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: observationOf(c, value), request: { method: 'POST', url: 'Observation' } }],
    }),
  });
  expect(r.status).toBe(200);
}
