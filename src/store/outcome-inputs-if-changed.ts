/**
 * A few subjects' fingerprints and, for those whose inputs changed, their inputs, in one statement:
 * one subject recomputed after one result paid a round trip for its fingerprint and another for its
 * inputs, and looked up the same records twice.
 */
import type { Queryable } from './db.ts';
import {
  type FingerprintRow,
  type FingerprintScope,
  fingerprintCtes,
  fingerprintParams,
  type SubjectFingerprint,
  toSubjectFingerprint,
} from './outcome-fingerprint-store.ts';
import { type SubjectInputRow, type SubjectInputRows, subjectInputRows, subjectInputSelects } from './outcome-store.ts';

export interface ChangedSubjectInputs {
  /** Every subject's fingerprint now and as stored (readFingerprints). */
  fingerprints: SubjectFingerprint[];
  /** The subjects whose fingerprint is not the stored one, sorted: only theirs are in `inputs`. */
  changed: string[];
  /** readSubjectInputs' rows for the changed subjects. */
  inputs: SubjectInputRows;
}

/**
 * readFingerprints, then readSubjectInputs of the subjects whose fingerprint changed, as one
 * statement (its snapshot serves both, as the two statements of one transaction did). For a few
 * subjects: the stored fingerprint is probed by key for each, where readFingerprints' join, planned
 * for a batch, read the whole table (10,000 rows at 10,000 subjects) for one subject.
 */
export async function readChangedSubjectInputs(
  q: Queryable,
  researchSubjectIds: readonly string[],
  scope: FingerprintScope,
  medicationTypes: readonly string[],
): Promise<ChangedSubjectInputs> {
  if (researchSubjectIds.length === 0) return { fingerprints: [], changed: [], inputs: subjectInputRows([], []) };
  const params = [...fingerprintParams(researchSubjectIds, scope), medicationTypes];
  // A fingerprint row ('f') carries its values in the input rows' columns: k the subject, then
  // fingerprint, stored fingerprint, outcomes and failed in resource_type, id, version_id, content.
  const r = await q.query<SubjectInputRow>(
    `WITH ${fingerprintCtes('$1::text[]', '$2::text[]', '$3::text[]', '$4')},
     f AS (SELECT fp.sid, fp.fingerprint, g.fingerprint AS stored, g.outcomes,
                  EXISTS (SELECT 1 FROM outcome_failures o WHERE o.research_subject_id = fp.sid) AS failed
             FROM fp LEFT JOIN LATERAL (
               SELECT x.fingerprint, x.outcomes FROM outcome_fingerprints x WHERE x.research_subject_id = fp.sid
               OFFSET 0
             ) g ON true),
     c AS (SELECT f.sid AS id FROM f WHERE f.stored IS DISTINCT FROM f.fingerprint),
     cp AS (SELECT DISTINCT pt.target FROM pt JOIN c ON c.id = pt.sid)
     SELECT 'f' AS role, f.sid AS k, f.fingerprint AS resource_type, f.stored AS id, f.outcomes AS version_id,
            f.failed::text AS content
       FROM f
     UNION ALL
     ${subjectInputSelects('c', 'cp', '$2::text[]', '$5::text[]')}`,
    params,
  );
  const fingerprints: SubjectFingerprint[] = [];
  for (const row of r.rows) {
    if (row.role !== 'f') continue;
    const f: FingerprintRow = {
      id: row.k,
      fingerprint: row.resource_type,
      stored: row.id,
      outcomes: row.version_id,
      failed: row.content === 'true',
    };
    fingerprints.push(toSubjectFingerprint(f));
  }
  const changed = fingerprints
    .filter((f) => f.stored !== f.fingerprint)
    .map((f) => f.researchSubjectId)
    .sort();
  return { fingerprints, changed, inputs: subjectInputRows(changed, r.rows) };
}
