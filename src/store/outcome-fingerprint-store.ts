/**
 * Input fingerprints of the outcomes stage (migration 0056): computed in SQL from record versions
 * only, so a batch of unchanged subjects is recognised in one statement without reading a body.
 */
import type { Queryable } from './db.ts';

export interface SubjectFingerprint {
  researchSubjectId: string;
  /** What the subject's inputs are now. */
  fingerprint: string;
  /** What they were at its last successful recomputation (null: never, or forgotten). */
  stored: string | null;
  /** Outcome resources the subject had after that recomputation. */
  outcomes: number;
  /** A failed recomputation of the subject is recorded (outcome_failures). */
  failed: boolean;
}

export interface FingerprintScope {
  /** Types whose resources reference the subject through `research-subject` (its trial records). */
  recordTypes: readonly string[];
  /** Ids the outcomes stage derives: its own output is not its input. */
  outputIdPrefixes: readonly string[];
  /** Everything else the computation depends on (study definitions, day), already hashed. */
  salt: string;
}

/**
 * The common table expressions of a fingerprint read, for a statement that passes the subjects' ids,
 * the record types, the output id patterns and the salt as these SQL expressions: `s` (the distinct
 * ids), `pt` (each subject's individual, "Patient/<id>") and `fp` (each subject's fingerprint now).
 * The md5 is over the sorted "Type/id/version" of its ResearchSubject (or its absence), Patient,
 * trial records and the Patient's medications, the same resources the recomputation loads. Shared by
 * readFingerprints and readChangedSubjectInputs: a fingerprint is stored by one and compared by the
 * other, so they must compute it alike.
 */
export function fingerprintCtes(ids: string, recordTypes: string, outputIdPatterns: string, salt: string): string {
  // One index lookup per target (LATERAL, kept from being flattened by OFFSET 0): joined with the
  // ids, matched with = ANY, or as a flattened LATERAL, the planner
  // (with statistics not yet updated after a bulk load) read every research-subject index row of
  // every subject once per batch, 1.7 s a batch at 10,000 subjects. The same for the subjects'
  // Patients (a join read every ResearchSubject's individual row, 10,000 a batch at 10,000
  // subjects) and their medications (every medication's subject row of the store, each batch).
  // The Patient's probe names the parameter as `param || ''` so that it is a descent of the owner
  // index (type, id): without statistics the planner preferred the lookup index (type, param,
  // target, id) for its index-only scan and walked every ResearchSubject's individual entry for
  // each subject there (0.64 ms and 230 buffers a subject at 10,000, 128 ms of a batch's 861).
  return `s AS (SELECT DISTINCT u.id FROM unnest(${ids}) AS u(id)),
     pt AS (SELECT s.id AS sid, x.target FROM s
              CROSS JOIN LATERAL (
                SELECT y.target FROM sp_reference y
                 WHERE y.resource_type = 'ResearchSubject' AND y.id = s.id AND y.param || '' = 'individual'
                   AND y.target LIKE 'Patient/%'
                OFFSET 0
              ) x),
     parts AS (
       SELECT s.id AS sid, 'ResearchSubject/' || coalesce(r.version_id::text || '/' || r.deleted::text, '-') AS p
         FROM s LEFT JOIN resources r ON r.resource_type = 'ResearchSubject' AND r.id = s.id
       UNION ALL
       SELECT s.id, r.resource_type || '/' || r.id || '/' || r.version_id
         FROM s
         CROSS JOIN LATERAL (
           SELECT y.resource_type, y.id FROM sp_reference y
            WHERE y.resource_type = ANY(${recordTypes}) AND y.param = 'research-subject'
              AND y.target = 'ResearchSubject/' || s.id
              AND NOT (y.id LIKE ANY(${outputIdPatterns}))
           OFFSET 0
         ) x
         JOIN resources r ON r.resource_type = x.resource_type AND r.id = x.id AND NOT r.deleted
       UNION ALL
       SELECT pt.sid, 'Patient/' || r.id || '/' || r.version_id
         FROM pt JOIN resources r ON r.resource_type = 'Patient' AND r.id = substr(pt.target, 9) AND NOT r.deleted
       UNION ALL
       SELECT pt.sid, r.resource_type || '/' || r.id || '/' || r.version_id
         FROM pt
         CROSS JOIN LATERAL (
           SELECT y.resource_type, y.id FROM sp_reference y
            WHERE y.resource_type IN ('MedicationRequest', 'MedicationStatement')
              AND y.param = 'subject' AND y.target = pt.target
           OFFSET 0
         ) x
         JOIN resources r ON r.resource_type = x.resource_type AND r.id = x.id AND NOT r.deleted
     ),
     fp AS (SELECT sid, md5(${salt} || string_agg(p, ',' ORDER BY p)) AS fingerprint FROM parts GROUP BY sid)`;
}

/** fingerprintCtes' parameters, in the order of its placeholders $1 … $4. */
export function fingerprintParams(researchSubjectIds: readonly string[], scope: FingerprintScope): unknown[] {
  return [[...researchSubjectIds], scope.recordTypes, scope.outputIdPrefixes.map((p) => `${p}%`), scope.salt];
}

/** Each subject's fingerprint now and as stored, in one statement (fingerprintCtes). */
export async function readFingerprints(
  q: Queryable,
  researchSubjectIds: readonly string[],
  scope: FingerprintScope,
): Promise<SubjectFingerprint[]> {
  if (researchSubjectIds.length === 0) return [];
  const r = await q.query<FingerprintRow>(
    `WITH ${fingerprintCtes('$1::text[]', '$2::text[]', '$3::text[]', '$4')}
     SELECT fp.sid AS id, fp.fingerprint, f.fingerprint AS stored, f.outcomes,
            EXISTS (SELECT 1 FROM outcome_failures o WHERE o.research_subject_id = fp.sid) AS failed
       FROM fp LEFT JOIN outcome_fingerprints f ON f.research_subject_id = fp.sid`,
    fingerprintParams(researchSubjectIds, scope),
  );
  return r.rows.map(toSubjectFingerprint);
}

/** A row of a fingerprint read. */
export interface FingerprintRow {
  id: string;
  fingerprint: string;
  stored: string | null;
  outcomes: number | null;
  failed: boolean;
}

export function toSubjectFingerprint(row: FingerprintRow): SubjectFingerprint {
  return {
    researchSubjectId: row.id,
    fingerprint: row.fingerprint,
    stored: row.stored,
    outcomes: row.outcomes ?? 0,
    failed: row.failed,
  };
}

/** Keeps each subject's fingerprint after a successful recomputation (one statement). */
export async function storeFingerprints(
  q: Queryable,
  rows: readonly { researchSubjectId: string; fingerprint: string; outcomes: number }[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO outcome_fingerprints (research_subject_id, fingerprint, outcomes)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
     ON CONFLICT (research_subject_id) DO UPDATE SET fingerprint = excluded.fingerprint, outcomes = excluded.outcomes`,
    [rows.map((r) => r.researchSubjectId), rows.map((r) => r.fingerprint), rows.map((r) => r.outcomes)],
  );
}

/** Forgets every fingerprint: the next pass computes every marked subject (a forced recomputation). */
export async function clearFingerprints(q: Queryable): Promise<void> {
  await q.query('DELETE FROM outcome_fingerprints');
}
