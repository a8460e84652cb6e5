/** The project's profiles, as specifications the build turns into snapshot StructureDefinitions. */
import type { ProfileSpec } from './constrain.ts';

export const PROFILE_BASE = 'https://khe-trial.example.org/fhir/StructureDefinition';

export const PROFILE_SPECS: ProfileSpec[] = [
  {
    id: 'trial-research-subject',
    url: `${PROFILE_BASE}/trial-research-subject`,
    name: 'TrialResearchSubject',
    title: 'Trial enrollment (ResearchSubject)',
    description:
      'Enrollment in a trial run by this adapter: the individual is a Patient, the arm is assigned, and period.start is the treatment start from which visit windows are counted.',
    baseType: 'ResearchSubject',
    required: ['ResearchSubject.period', 'ResearchSubject.assignedArm'],
    invariants: [
      {
        key: 'khe-rs-1',
        human: 'period.start (treatment start) is required',
        expression: 'period.start.exists()',
      },
      {
        key: 'khe-rs-2',
        human: 'the individual is a Patient reference',
        expression: "individual.reference.startsWith('Patient/')",
      },
    ],
  },
];
