/**
 * The safety signal a clinician sees: a Flag raised when a drug's trough falls outside the
 * subject's arm target, cleared (inactive, with an end date) by a later trough in range. Pure.
 */
import { createHash } from 'node:crypto';
import type { Flag } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL } from '../auth/masking.ts';
import { PROJECT_BASE } from '../mapping/trial-extensions.ts';
import { trialLinks } from '../records/trial-links.ts';
import { OUTCOME_IDENTIFIER_SYSTEM, OUTCOME_TAG } from './outcome-resources.ts';
import { enrollmentOf, type SubjectInputs } from './subject-inputs.ts';

export const FLAG_CODE_SYSTEM = `${PROJECT_BASE}/CodeSystem/trial-flag`;

export interface TroughStatus {
  ref: string;
  effective: string;
  status: 'below' | 'in-range' | 'above';
  value: number;
}

const capitalised = (s: string): string => (s[0] ?? '').toUpperCase() + s.slice(1);

export function troughFlag(
  inputs: SubjectInputs,
  troughs: readonly TroughStatus[],
  of: { drug: string; unit: string },
): Flag | undefined {
  const lastOut = troughs.findLastIndex((t) => t.status !== 'in-range');
  if (lastOut < 0) return undefined;
  // The episode began at the first of the out-of-target troughs that run up to the last one.
  let first = lastOut;
  while (first > 0 && troughs[first - 1]?.status !== 'in-range') first--;
  const latest = troughs[troughs.length - 1] as TroughStatus;
  const cleared =
    latest.status === 'in-range' ? troughs.slice(lastOut + 1).find((t) => t.status === 'in-range') : undefined;
  const out = troughs[lastOut] as TroughStatus;
  const id = `fl-${createHash('sha256').update(`${inputs.researchSubjectId}|trough-out-of-target`).digest('hex').slice(0, 40)}`;
  const enrollment = enrollmentOf(inputs);
  return {
    resourceType: 'Flag',
    id,
    // Trough targets differ by arm: a trough flag is as revealing as the trough.
    meta: { tag: [OUTCOME_TAG], security: [ARM_REVEALING_SECURITY_LABEL] },
    extension: trialLinks(inputs.study, enrollment, 'overall'),
    identifier: [{ system: OUTCOME_IDENTIFIER_SYSTEM, value: id }],
    status: cleared ? 'inactive' : 'active',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] }],
    code: {
      coding: [
        {
          system: FLAG_CODE_SYSTEM,
          code: 'trough-out-of-target',
          display: `${capitalised(of.drug)} trough out of target`,
        },
      ],
      text: `${capitalised(of.drug)} trough ${out.status === 'below' ? 'below' : 'above'} target: ${out.value} ${of.unit} on ${out.effective.slice(0, 10)}`,
    },
    subject: { reference: `Patient/${inputs.patientId}` },
    period: {
      start: (troughs[first] as TroughStatus).effective,
      ...(cleared ? { end: cleared.effective } : {}),
    },
  };
}
