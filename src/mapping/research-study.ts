/** The ResearchStudy resource for a study definition: deterministic, so restarts write nothing new. */
import type { ResearchStudy } from '@medplum/fhirtypes';
import type { StudyDefinition } from './study-definition.ts';

export function toResearchStudy(def: StudyDefinition): ResearchStudy {
  return {
    resourceType: 'ResearchStudy',
    id: def.id,
    identifier: [
      { use: 'official', system: def.identifier.system, value: def.identifier.value },
      ...def.secondaryIdentifiers.map((i) => ({ use: 'secondary' as const, system: i.system, value: i.value })),
    ],
    title: def.title,
    status: def.status,
    phase: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/research-study-phase', code: def.phase }],
    },
    condition: [def.condition],
    period: { start: def.startDate },
    sponsor: { display: def.sponsor },
    principalInvestigator: { display: def.principalInvestigator },
    description: `Masking: ${def.masking}. Estimated enrollment: ${def.enrollmentTarget} participants.`,
    arm: def.arms.map((a) => ({ name: a.name, type: { text: a.type }, description: a.description })),
  };
}
