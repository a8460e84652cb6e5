/**
 * Enrollment is a ResearchSubject: for a study this adapter runs, the assigned (and actual) arm
 * must be one of the study's arms, by name, or the trial could not place the subject's troughs.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { WriteRule } from '../fhir/validate.ts';
import { fail, unprocessable } from '../shared/outcomes.ts';

export interface StudyArms {
  id: string;
  arms: readonly { name: string }[];
}

export function createEnrollmentRule(studies: readonly StudyArms[]): WriteRule {
  const armsByStudy = new Map(studies.map((s) => [`ResearchStudy/${s.id}`, new Set(s.arms.map((a) => a.name))]));
  return (resource: Resource) => {
    if (resource.resourceType !== 'ResearchSubject') return;
    const studyRef = resource.study?.reference;
    const arms = studyRef ? armsByStudy.get(studyRef.replace(/^.*\/(ResearchStudy\/)/, '$1')) : undefined;
    if (!arms) return;
    for (const field of ['assignedArm', 'actualArm'] as const) {
      const arm = resource[field];
      if (arm !== undefined && !arms.has(arm)) {
        fail(
          unprocessable(
            `ResearchSubject.${field} "${arm}" is not an arm of ${studyRef}; expected one of: ${[...arms].join(', ')}`,
            `ResearchSubject.${field}`,
          ),
        );
      }
    }
  };
}
