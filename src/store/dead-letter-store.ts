/** The dead-letter list: SQL only; what goes in and how it is replayed is src/ingest's business. */
import type { Queryable } from './db.ts';

export interface DeadLetter {
  id: string;
  receivedAt: string;
  resourceType: string;
  content: string;
  reason: string;
  status: 'open' | 'replayed' | 'discarded';
  resolution: string | null;
  /** Replays that failed (the letter stayed open), and why the last one did. */
  attempts: number;
  lastError: string | null;
}

interface Row {
  id: string;
  received_at: string;
  resource_type: string;
  content: string;
  reason: string;
  status: DeadLetter['status'];
  resolution: string | null;
  attempts: number;
  last_error: string | null;
}

const COLUMNS = `dead_letter_id::text AS id, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS received_at,
  resource_type, content, reason, status, resolution, attempts, last_error`;

const toDeadLetter = (r: Row): DeadLetter => ({
  id: r.id,
  receivedAt: r.received_at,
  resourceType: r.resource_type,
  content: r.content,
  reason: r.reason,
  status: r.status,
  resolution: r.resolution,
  attempts: Number(r.attempts),
  lastError: r.last_error,
});

export async function addDeadLetter(
  q: Queryable,
  resourceType: string,
  content: string,
  reason: string,
): Promise<string> {
  const r = await q.query<{ id: string }>(
    'INSERT INTO dead_letters (resource_type, content, reason) VALUES ($1, $2, $3) RETURNING dead_letter_id::text AS id',
    [resourceType, content, reason],
  );
  return r.rows[0]?.id as string;
}

export async function listDeadLetters(
  q: Queryable,
  status?: DeadLetter['status'],
  limit = 1000,
): Promise<DeadLetter[]> {
  const r = await q.query<Row>(
    `SELECT ${COLUMNS} FROM dead_letters WHERE ($1::text IS NULL OR status = $1) ORDER BY dead_letter_id LIMIT $2`,
    [status ?? null, limit],
  );
  return r.rows.map(toDeadLetter);
}

/** Locks the open letters for replay, so two admins (or instances) never replay one twice. */
export async function claimOpenDeadLetters(q: Queryable, ids: string[] | undefined): Promise<DeadLetter[]> {
  const r = await q.query<Row>(
    `SELECT ${COLUMNS} FROM dead_letters
     WHERE status = 'open' AND ($1::bigint[] IS NULL OR dead_letter_id = ANY($1::bigint[]))
     ORDER BY dead_letter_id FOR UPDATE SKIP LOCKED`,
    [ids ?? null],
  );
  return r.rows.map(toDeadLetter);
}

export async function resolveDeadLetter(
  q: Queryable,
  id: string,
  status: 'replayed' | 'discarded',
  resolution: string,
): Promise<boolean> {
  const r = await q.query<{ id: string }>(
    `UPDATE dead_letters SET status = $2, resolved_at = now(), resolution = $3
     WHERE dead_letter_id = $1::bigint AND status = 'open' RETURNING dead_letter_id::text AS id`,
    [id, status, resolution],
  );
  return r.rows.length === 1;
}

/** A replay that failed: the letter stays open, with the failure counted and its error kept. */
export async function recordReplayFailure(q: Queryable, id: string, error: string): Promise<void> {
  await q.query(
    `UPDATE dead_letters SET attempts = attempts + 1, last_error = $2, last_attempt_at = now()
     WHERE dead_letter_id = $1::bigint AND status = 'open'`,
    [id, error],
  );
}
