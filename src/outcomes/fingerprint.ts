/**
 * What a subject's outcomes depend on besides its records, hashed once: the study definitions, the
 * questionnaires, the server base (it is in every reference written) and the version of the rules'
 * code. With the day (visit compliance counts visits due by today) it salts the per-subject
 * fingerprint the store computes from record versions (src/store/outcome-fingerprint-store.ts).
 */
import { createHash } from 'node:crypto';
import type { Questionnaire } from '@medplum/fhirtypes';
import type { StudyDefinition } from '../mapping/study-definition.ts';

/**
 * Raise when a change to the computation's code changes its results for the same inputs: every
 * subject is then computed again on its next pass (an admin can also force that, see outcomes-api.ts).
 */
export const OUTCOME_CODE_VERSION = 1;

/** Ids the outcomes stage derives (outcome-resources.ts `oc-`, trough-flag.ts `fl-`, compute/safety.ts `aes-`). */
export const OUTCOME_ID_PREFIXES: readonly string[] = ['oc-', 'fl-', 'aes-'];

/** JSON with Maps and Sets spelled out, so no part of a definition hashes as `{}`. */
function stable(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Map) return { map: [...v.entries()] };
    if (v instanceof Set) return { set: [...v.values()] };
    return v;
  });
}

export function definitionsFingerprint(
  studies: readonly StudyDefinition[],
  questionnaires: readonly Questionnaire[],
  baseUrl: string,
): string {
  return createHash('sha256')
    .update(stable({ code: OUTCOME_CODE_VERSION, baseUrl, studies, questionnaires }))
    .digest('hex');
}
