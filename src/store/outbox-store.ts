/**
 * The write-back outbox (see migration 0021): SQL only. What is queued, and how it is delivered, is
 * src/writeback's business. Times the worker compares against come from its clock as parameters, so
 * retry schedules can be tested with a fake clock.
 */
import type { Queryable } from './db.ts';

/** Bodies beyond this travel as one JSON array (the protocol allows 65,535 parameters). */
const MAX_CONTENT_PARAMS = 60_000;

export interface OutboxRowInput {
  resourceType: string;
  identifierSystem: string;
  identifierValue: string;
  resourceId: string;
  versionId: number;
  operation: 'upsert' | 'retract';
  content: string | null;
  /** Set when the resource cannot be sent (not valid R4): queued as a dead letter with this error. */
  deadError?: string | undefined;
}

export interface ClaimedOutboxRow extends OutboxRowInput {
  id: string;
  seq: string;
  attempts: number;
}

export type OutboxStatus = 'pending' | 'delivered' | 'dead' | 'discarded';

export interface OutboxEntry {
  id: string;
  resourceType: string;
  identifier: string;
  resourceId: string;
  versionId: number;
  operation: 'upsert' | 'retract';
  status: OutboxStatus;
  attempts: number;
  deliveries: number;
  lastStatus: number | null;
  lastError: string | null;
  upstreamOutcome: unknown;
  enqueuedAt: string;
  deliveredAt: string | null;
  resolution: string | null;
}

/**
 * Upserts by business identifier: a newer (or equal) version replaces the queued one and makes the
 * row due at once; an older version arriving late changes nothing.
 */
export async function upsertOutboxRows(q: Queryable, rows: OutboxRowInput[]): Promise<void> {
  if (rows.length === 0) return;
  const params: unknown[] = [
    rows.map((r) => r.resourceType),
    rows.map((r) => r.identifierSystem),
    rows.map((r) => r.identifierValue),
    rows.map((r) => r.resourceId),
    rows.map((r) => r.versionId),
    rows.map((r) => r.operation),
    rows.map((r) => r.deadError ?? null),
  ];
  // Each body as its own text parameter, sent as it is (see store/batch-write.ts): a JSON document
  // of all rows cost an escape per body in JavaScript and a jsonb parse of the whole in PostgreSQL,
  // the largest part of queueing a recomputation's thousands of outcome versions. Only rows that
  // carry a body get one (with their position): an outcome version written in the same transaction
  // carries none, and a NULL placeholder for each of those was parsed, bound and planned for nothing
  // (issue 20: about 10 ms more per 5,000-row statement, and a statement text of 5,000 placeholders).
  const bodies: number[] = [];
  rows.forEach((r, i) => {
    if (r.content !== null) bodies.push(i + 1);
  });
  let contentJoin = '';
  let contentColumn = 'NULL::text';
  if (bodies.length > 0) {
    const positions = `$${params.push(bodies)}::bigint[]`;
    const contents = bodies.map((n) => rows[n - 1]?.content ?? null);
    const contentRows =
      contents.length <= MAX_CONTENT_PARAMS
        ? `ARRAY[${contents.map((c) => `$${params.push(c)}::text`).join(', ')}]`
        : `ARRAY(SELECT e FROM json_array_elements_text($${params.push(JSON.stringify(contents))}::json) WITH ORDINALITY AS j(e, k) ORDER BY k)`;
    contentJoin = `LEFT JOIN unnest(${positions}, ${contentRows}) AS c(n, content) ON c.n = x.n`;
    contentColumn = 'c.content';
  }
  // A row whose resource cannot be sent is a dead letter from the start (last_error says why).
  await q.query(
    `INSERT INTO outbox (resource_type, identifier_system, identifier_value, resource_id, version_id, operation, content,
       status, last_error, pending_since)
     SELECT x.resource_type, x.identifier_system, x.identifier_value, x.resource_id, x.version_id, x.operation, ${contentColumn},
       CASE WHEN x.dead_error IS NULL THEN 'pending' ELSE 'dead' END, x.dead_error,
       CASE WHEN x.dead_error IS NULL THEN now() END
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])
          WITH ORDINALITY AS x(resource_type, identifier_system, identifier_value, resource_id, version_id, operation,
            dead_error, n)
     ${contentJoin}
     ON CONFLICT (resource_type, identifier_system, identifier_value) DO UPDATE SET
       resource_id = excluded.resource_id, version_id = excluded.version_id, operation = excluded.operation,
       content = excluded.content, seq = outbox.seq + 1, status = excluded.status, attempts = 0,
       next_attempt_at = '-infinity', enqueued_at = now(), resolution = NULL, last_error = excluded.last_error,
       pending_since = CASE WHEN excluded.status = 'dead' THEN NULL
                            WHEN outbox.status = 'pending' THEN outbox.pending_since ELSE now() END
     WHERE outbox.version_id <= excluded.version_id`,
    params,
  );
}

interface ClaimRow {
  id: string;
  resource_type: string;
  identifier_system: string;
  identifier_value: string;
  resource_id: string;
  version_id: string;
  operation: 'upsert' | 'retract';
  content: string | null;
  seq: string;
  attempts: number;
}

/** Claims due rows not in flight elsewhere: SKIP LOCKED plus a lease that outlives the request timeout. */
export async function claimOutboxRows(
  q: Queryable,
  now: Date,
  leaseUntil: Date,
  limit: number,
): Promise<ClaimedOutboxRow[]> {
  const r = await q.query<ClaimRow>(
    `UPDATE outbox SET lease_until = $2, attempts = attempts + 1
     WHERE outbox_id IN (
       SELECT outbox_id FROM outbox
       WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
       ORDER BY next_attempt_at, outbox_id LIMIT $3 FOR UPDATE SKIP LOCKED)
     RETURNING outbox_id::text AS id, resource_type, identifier_system, identifier_value, resource_id,
       version_id::text AS version_id, operation, content, seq::text AS seq, attempts`,
    [now.toISOString(), leaseUntil.toISOString(), limit],
  );
  return r.rows
    .map((x) => ({
      id: x.id,
      resourceType: x.resource_type,
      identifierSystem: x.identifier_system,
      identifierValue: x.identifier_value,
      resourceId: x.resource_id,
      versionId: Number(x.version_id),
      operation: x.operation,
      content: x.content,
      seq: x.seq,
      attempts: x.attempts,
    }))
    .sort((a, b) => Number(a.id) - Number(b.id));
}

/**
 * Delivered (a round's worth in one statement): done unless a newer version was queued meanwhile,
 * in which case the row stays pending and is due at once.
 */
export async function markOutboxDelivered(
  q: Queryable,
  delivered: { row: ClaimedOutboxRow; status: number }[],
): Promise<void> {
  if (delivered.length === 0) return;
  await q.query(
    `UPDATE outbox o SET lease_until = NULL, deliveries = o.deliveries + 1, delivered_at = now(),
       delivered_version = d.version_id, last_status = d.status, last_error = NULL, upstream_outcome = NULL,
       status = CASE WHEN o.seq = d.seq THEN 'delivered' ELSE 'pending' END,
       attempts = CASE WHEN o.seq = d.seq THEN 0 ELSE o.attempts END,
       pending_since = CASE WHEN o.seq = d.seq THEN NULL ELSE o.pending_since END
     FROM jsonb_to_recordset($1::jsonb) AS d(id bigint, seq bigint, version_id bigint, status integer)
     WHERE o.outbox_id = d.id`,
    [
      JSON.stringify(
        delivered.map((d) => ({
          id: Number(d.row.id),
          seq: Number(d.row.seq),
          version_id: d.row.versionId,
          status: d.status,
        })),
      ),
    ],
  );
}

export interface OutboxFailure {
  status: number | null;
  error: string;
  outcome: unknown;
  /** Retry at this time; undefined: dead letter now (unless a newer version is queued). */
  retryAt: Date | undefined;
  /** A row pending since before this is dead-lettered even when the failure is retryable. */
  pendingSinceCutoff: Date;
}

/** A failed attempt: back off, or dead-letter when retrying cannot help or the row is too old. */
export async function markOutboxFailed(q: Queryable, row: ClaimedOutboxRow, f: OutboxFailure): Promise<boolean> {
  const r = await q.query<{ status: OutboxStatus }>(
    `UPDATE outbox SET lease_until = NULL, last_status = $3, last_error = $4, upstream_outcome = $5,
       next_attempt_at = CASE WHEN seq = $2::bigint THEN COALESCE($6::timestamptz, next_attempt_at) ELSE next_attempt_at END,
       status = CASE WHEN seq <> $2::bigint THEN 'pending'
                     WHEN $6::timestamptz IS NULL OR COALESCE(pending_since, enqueued_at) < $7::timestamptz
                       THEN 'dead' ELSE 'pending' END
     WHERE outbox_id = $1::bigint RETURNING status`,
    [
      row.id,
      row.seq,
      f.status,
      f.error,
      f.outcome === undefined ? null : JSON.stringify(f.outcome),
      f.retryAt?.toISOString() ?? null,
      f.pendingSinceCutoff.toISOString(),
    ],
  );
  return r.rows[0]?.status === 'dead';
}

/** Gives back a claim untouched (the worker stopped its batch because upstream is unavailable). */
export async function releaseOutboxRow(q: Queryable, row: ClaimedOutboxRow, retryAt: Date): Promise<void> {
  await q.query(
    `UPDATE outbox SET lease_until = NULL, attempts = GREATEST(attempts - 1, 0),
       next_attempt_at = GREATEST(next_attempt_at, $2::timestamptz)
     WHERE outbox_id = $1::bigint AND status = 'pending'`,
    [row.id, retryAt.toISOString()],
  );
}

interface EntryRow {
  id: string;
  resource_type: string;
  identifier: string;
  resource_id: string;
  version_id: string;
  operation: 'upsert' | 'retract';
  status: OutboxStatus;
  attempts: number;
  deliveries: number;
  last_status: number | null;
  last_error: string | null;
  upstream_outcome: string | null;
  enqueued_at: string;
  delivered_at: string | null;
  resolution: string | null;
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

export async function listOutbox(q: Queryable, status: OutboxStatus | undefined, limit = 1000): Promise<OutboxEntry[]> {
  const r = await q.query<EntryRow>(
    `SELECT outbox_id::text AS id, resource_type, identifier_system || '|' || identifier_value AS identifier,
       resource_id, version_id::text AS version_id, operation, status, attempts, deliveries, last_status,
       last_error, upstream_outcome, to_char(enqueued_at AT TIME ZONE 'UTC', ${ISO}) AS enqueued_at,
       to_char(delivered_at AT TIME ZONE 'UTC', ${ISO}) AS delivered_at, resolution
     FROM outbox WHERE ($1::text IS NULL OR status = $1) ORDER BY outbox_id LIMIT $2`,
    [status ?? null, limit],
  );
  return r.rows.map((x) => ({
    id: x.id,
    resourceType: x.resource_type,
    identifier: x.identifier,
    resourceId: x.resource_id,
    versionId: Number(x.version_id),
    operation: x.operation,
    status: x.status,
    attempts: x.attempts,
    deliveries: x.deliveries,
    lastStatus: x.last_status,
    lastError: x.last_error,
    upstreamOutcome: x.upstream_outcome === null ? null : (JSON.parse(x.upstream_outcome) as unknown),
    enqueuedAt: x.enqueued_at,
    deliveredAt: x.delivered_at,
    resolution: x.resolution,
  }));
}

/** Dead letters back to the queue (all, or the given ids); returns the ids requeued. */
export async function retryOutboxDead(q: Queryable, ids: string[] | undefined): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = '-infinity', pending_since = now(),
       resolution = 'retried by admin'
     WHERE status = 'dead' AND ($1::bigint[] IS NULL OR outbox_id = ANY($1::bigint[]))
     RETURNING outbox_id::text AS id`,
    [ids ?? null],
  );
  return r.rows.map((x) => x.id).sort((a, b) => Number(a) - Number(b));
}

export async function discardOutboxDead(q: Queryable, id: string, reason: string): Promise<boolean> {
  const r = await q.query<{ id: string }>(
    `UPDATE outbox SET status = 'discarded', resolution = $2, pending_since = NULL
     WHERE outbox_id = $1::bigint AND status = 'dead' RETURNING outbox_id::text AS id`,
    [id, reason],
  );
  return r.rows.length === 1;
}

export interface OutboxStats {
  pending: number;
  dead: number;
  /** Seconds the oldest undelivered change has waited (0 when nothing is pending). */
  lagSeconds: number;
  /** When the oldest pending row became pending (null when nothing is pending). */
  oldestPendingSince: string | null;
}

export async function outboxStats(q: Queryable): Promise<OutboxStats> {
  const r = await q.query<{ pending: string; dead: string; lag: string | null; since: string | null }>(
    `SELECT count(*) FILTER (WHERE status = 'pending')::text AS pending,
            count(*) FILTER (WHERE status = 'dead')::text AS dead,
            (extract(epoch FROM now() - min(pending_since) FILTER (WHERE status = 'pending')))::text AS lag,
            to_char(min(pending_since) FILTER (WHERE status = 'pending') AT TIME ZONE 'UTC', ${ISO}) AS since
     FROM outbox`,
  );
  const row = r.rows[0];
  return {
    pending: Number(row?.pending ?? 0),
    dead: Number(row?.dead ?? 0),
    lagSeconds: Math.max(0, Number(row?.lag ?? 0)),
    oldestPendingSince: row?.since ?? null,
  };
}
