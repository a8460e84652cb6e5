/** The reads and the lock behind derived study Groups (src/ingest/study-group-sync.ts). */
import type { Queryable } from './db.ts';

/** The enrollment version every ResearchSubject/Patient write bumps (migration 0003). */
export async function enrollmentVersion(q: Queryable): Promise<string> {
  const r = await q.query<{ v: string }>('SELECT version::text AS v FROM enrollment_state WHERE id = 1');
  return r.rows[0]?.v ?? '0';
}

/**
 * Inside a transaction: waits for enrollment writes in flight (they hold this row until they
 * commit) and keeps new ones out until the Groups are written, so the Groups derived next see
 * every committed ResearchSubject and none can commit unseen in between.
 */
export async function lockEnrollment(tx: Queryable): Promise<string> {
  const r = await tx.query<{ v: string }>('SELECT version::text AS v FROM enrollment_state WHERE id = 1 FOR UPDATE');
  return r.rows[0]?.v ?? '0';
}

export interface CurrentRow {
  id: string;
  versionId: number;
  /** Null when the current version is a deletion (only with ids). */
  content: string | null;
}

/** Current rows of a type; given ids, deleted ones too (their next version continues the history). */
export async function currentOfType(q: Queryable, type: string, ids?: string[]): Promise<CurrentRow[]> {
  const r = await q.query<CurrentRow>(
    `SELECT id, version_id AS "versionId", content FROM resources
     WHERE resource_type = $1 AND ($2::text[] IS NULL AND NOT deleted OR id = ANY($2::text[]))`,
    [type, ids ?? null],
  );
  return r.rows;
}
