/** The project's profiles, as specifications the build turns into snapshot StructureDefinitions. */
import type { ProfileSpec } from './constrain.ts';
import { PROFILE_BASE } from './profile-base.ts';

/** What every computed outcome satisfies, whichever study and rule it comes from. */
export const OUTCOME_INVARIANTS: ProfileSpec['invariants'] = [
  {
    key: 'khe-oc-1',
    human: 'coded from the trial-outcomes CodeSystem',
    expression: "code.coding.where(system = 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes').exists()",
  },
  {
    key: 'khe-oc-2',
    human: 'a value, or a data-absent reason saying why it is not evaluable (unless retracted)',
    expression: "status = 'entered-in-error' or value.exists() or dataAbsentReason.exists()",
  },
  {
    key: 'khe-oc-3',
    human: 'linked to its ResearchStudy, ResearchSubject and visit',
    expression:
      "extension('http://hl7.org/fhir/StructureDefinition/workflow-researchStudy').exists() and extension('https://khe-trial.example.org/fhir/StructureDefinition/research-subject').exists() and extension('https://khe-trial.example.org/fhir/StructureDefinition/visit').exists()",
  },
  {
    key: 'khe-oc-4',
    human: 'tagged as an outcome',
    expression:
      "meta.tag.where(system = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind' and code = 'outcome').exists()",
  },
];

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
  {
    id: 'trial-outcome',
    url: `${PROFILE_BASE}/trial-outcome`,
    name: 'TrialOutcome',
    title: 'Computed trial outcome (Observation)',
    description:
      'An outcome the adapter computes from trial records: coded from trial-outcomes, derived from every input, linked to the ResearchStudy, ResearchSubject and visit, with a value or the reason it is not evaluable.',
    baseType: 'Observation',
    required: ['Observation.identifier'],
    invariants: OUTCOME_INVARIANTS,
  },
];
