/** The links every trial record carries: study, ResearchSubject, visit, and the source it came from. */
import type { Extension } from '@medplum/fhirtypes';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { EXT_RESEARCH_STUDY, EXT_RESEARCH_SUBJECT, EXT_VISIT, VISIT_SYSTEM } from '../mapping/trial-extensions.ts';
import type { Enrollment } from './enrollment.ts';
import { visitAt } from './visit-window.ts';

/** The visit a value taken at `when` falls in, relative to the subject's treatment start. */
export function visitOf(when: string | undefined, enrollment: Enrollment, study: StudyDefinition): string {
  return visitAt(when, enrollment.start, study.visits);
}

export function trialLinks(study: StudyDefinition, enrollment: Enrollment, visit: string): Extension[] {
  return [
    { url: EXT_RESEARCH_STUDY, valueReference: { reference: `ResearchStudy/${study.id}` } },
    { url: EXT_RESEARCH_SUBJECT, valueReference: { reference: `ResearchSubject/${enrollment.researchSubjectId}` } },
    { url: EXT_VISIT, valueCoding: { system: VISIT_SYSTEM, code: visit } },
  ];
}
