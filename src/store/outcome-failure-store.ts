/** Outcome recomputation failures per subject (migration 0055): recorded, listed, cleared. */
import type { Queryable } from './db.ts';

export interface OutcomeFailure {
  researchSubjectId: string;
  attempts: number;
  lastError: string;
  failedAt: string;
  retryAt: string;
}

/**
 * Records one more failure and puts a mark back (the batch's were claimed), due after the backoff
 * the caller computes from the attempts so far.
 */
export async function recordOutcomeFailure(
  q: Queryable,
  researchSubjectId: string,
  error: string,
  backoffMs: (attempts: number) => number,
): Promise<number> {
  const prev = await q.query<{ attempts: number }>(
    'SELECT attempts FROM outcome_failures WHERE research_subject_id = $1',
    [researchSubjectId],
  );
  const attempts = (prev.rows[0]?.attempts ?? 0) + 1;
  await q.query(
    `INSERT INTO outcome_failures (research_subject_id, attempts, last_error, failed_at, retry_at)
     VALUES ($1, $2, $3, now(), now() + ($4::text || ' milliseconds')::interval)
     ON CONFLICT (research_subject_id) DO UPDATE
       SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
           failed_at = EXCLUDED.failed_at, retry_at = EXCLUDED.retry_at`,
    [researchSubjectId, attempts, error.slice(0, 2000), String(Math.round(backoffMs(attempts)))],
  );
  await q.query('INSERT INTO outcome_marks (research_subject_id) VALUES ($1)', [researchSubjectId]);
  return attempts;
}

export async function clearOutcomeFailures(q: Queryable, researchSubjectIds: readonly string[]): Promise<void> {
  if (researchSubjectIds.length === 0) return;
  await q.query('DELETE FROM outcome_failures WHERE research_subject_id = ANY($1::text[])', [[...researchSubjectIds]]);
}

export async function listOutcomeFailures(q: Queryable, limit = 100): Promise<OutcomeFailure[]> {
  const r = await q.query<{ id: string; attempts: number; last_error: string; failed_at: string; retry_at: string }>(
    `SELECT research_subject_id AS id, attempts, last_error,
            to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS failed_at,
            to_char(retry_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS retry_at
       FROM outcome_failures ORDER BY failed_at DESC LIMIT $1`,
    [limit],
  );
  return r.rows.map((x) => ({
    researchSubjectId: x.id,
    attempts: x.attempts,
    lastError: x.last_error,
    failedAt: x.failed_at,
    retryAt: x.retry_at,
  }));
}

export async function countOutcomeFailures(q: Queryable): Promise<number> {
  const r = await q.query<{ n: string }>('SELECT count(*)::text AS n FROM outcome_failures');
  return Number(r.rows[0]?.n ?? 0);
}
