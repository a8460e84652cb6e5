/**
 * The Groups research clients export by: one per study (every enrolled patient) and one per arm
 * (labelled arm-revealing, so blinded outcome assessors never see them). Pure: derived from the
 * ResearchStudy and ResearchSubject resources alone, so any instance derives the same Groups.
 */
import type { Group, ResearchStudy, ResearchSubject } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import { PROJECT_BASE } from '../mapping/trial-extensions.ts';
import { COLLECTING_STATUSES } from './enrollment.ts';

export const STUDY_GROUP_SYSTEM = `${PROJECT_BASE}/CodeSystem/study-group`;
export const STUDY_GROUP_TAG = { system: `${PROJECT_BASE}/CodeSystem/record-kind`, code: 'study-group' } as const;

function safeId(s: string): string {
  return s.replace(/[^A-Za-z0-9\-.]/g, '-');
}

export function studyGroupId(studyId: string, arm?: string): string {
  return (arm === undefined ? `study-${studyId}` : `study-${studyId}-arm-${safeId(arm)}`).slice(0, 64);
}

function patientOf(subject: ResearchSubject): string | undefined {
  const ref = subject.individual?.reference ?? '';
  return ref.startsWith('Patient/') ? ref.slice('Patient/'.length) : undefined;
}

/** Enrolled: a ResearchSubject in a status whose results the trial collects (as the ingest gate reads it). */
function enrolled(subjects: ResearchSubject[], studyId: string): ResearchSubject[] {
  return subjects.filter((s) => s.study?.reference === `ResearchStudy/${studyId}` && COLLECTING_STATUSES.has(s.status));
}

function group(
  id: string,
  name: string,
  kind: 'study' | 'arm',
  studyId: string,
  arm: string | undefined,
  subjects: ResearchSubject[],
): Group {
  const patients = [...new Set(subjects.map(patientOf).filter((p): p is string => p !== undefined))].sort();
  return {
    resourceType: 'Group',
    id,
    meta: {
      tag: [{ ...STUDY_GROUP_TAG }],
      ...(kind === 'arm' ? { security: [{ ...ARM_REVEALING_SECURITY_LABEL }] } : {}),
    },
    identifier: [{ system: `${PROJECT_BASE}/sid/study-group`, value: id }],
    active: true,
    type: 'person',
    actual: true,
    code: { coding: [{ system: STUDY_GROUP_SYSTEM, code: kind }] },
    name,
    characteristic: [
      { code: { text: 'research-study' }, valueReference: { reference: `ResearchStudy/${studyId}` }, exclude: false },
      ...(arm === undefined
        ? []
        : [{ code: { text: 'assigned-arm' }, valueCodeableConcept: { text: arm }, exclude: false }]),
    ],
    quantity: patients.length,
    ...(patients.length > 0 ? { member: patients.map((p) => ({ entity: { reference: `Patient/${p}` } })) } : {}),
  };
}

export function deriveStudyGroups(studies: ResearchStudy[], subjects: ResearchSubject[]): Group[] {
  const out: Group[] = [];
  for (const study of studies) {
    if (!study.id) continue;
    const label = study.identifier?.[0]?.value ?? study.id;
    const members = enrolled(subjects, study.id);
    out.push(group(studyGroupId(study.id), `${label}: enrolled patients`, 'study', study.id, undefined, members));
    for (const arm of study.arm ?? []) {
      out.push(
        group(
          studyGroupId(study.id, arm.name),
          `${label}: arm ${arm.name}`,
          'arm',
          study.id,
          arm.name,
          members.filter((s) => s.assignedArm === arm.name),
        ),
      );
    }
  }
  return out;
}
