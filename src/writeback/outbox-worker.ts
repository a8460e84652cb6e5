/**
 * Delivers the outbox upstream. Each round claims due rows (SKIP LOCKED + lease, so instances never
 * send one resource concurrently), sends each as a conditional update by business identifier, and
 * records the result: delivered; retry later with exponential backoff and jitter (408, 429 and
 * 503 honouring Retry-After, 5xx, time-outs, refused connections, token endpoint failures); or
 * dead letter with the upstream OperationOutcome: at once for a definitive answer (a 4xx retrying
 * cannot fix, see upstream-error.ts), and for anything else only once the row has been pending for
 * longer than the outbox's maximum age (OUTBOX_MAX_AGE_HOURS). When upstream looks down (any
 * retryable failure) the round stops and hands back what it has not tried, so an outage costs one
 * probe per round rather than one failed request per queued resource.
 */
import type { Resource } from '@medplum/fhirtypes';
import { AppError, appError } from '../shared/app-error.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import {
  type ClaimedOutboxRow,
  claimOutboxRows,
  markOutboxDelivered,
  markOutboxFailed,
  releaseOutboxRow,
} from '../store/outbox-store.ts';
import { readVersion } from '../store/resource-store.ts';
import { type BackoffPolicy, backoffDelay } from './backoff.ts';
import { outgoingProblem } from './outgoing-resource.ts';
import type { UpstreamClient } from './upstream-client.ts';
import { UpstreamError } from './upstream-error.ts';

export interface OutboxWorkerOptions {
  db: Db;
  upstream: UpstreamClient;
  logger: Logger;
  /** A row pending for longer than this is dead-lettered at its next failure, retryable or not. */
  maxAgeMs: number;
  backoff: BackoffPolicy;
  batchSize: number;
  /** Requests in flight at once (distinct resources). */
  concurrency?: number;
  /** A claim's lease: longer than one request's timeout. */
  leaseMs: number;
  now?: () => number;
  random?: () => number;
}

export interface RoundResult {
  claimed: number;
  delivered: number;
  retrying: number;
  dead: number;
  /** Rows handed back untried because upstream looked unavailable. */
  released: number;
  /** Failed, but a newer version was queued meanwhile: pending again. */
  requeued: number;
}

/** The body sent upstream: no local id or version (upstream keeps its own), identifier kept. */
export function upstreamBody(resource: Resource): Resource {
  const { id: _id, meta, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...keepMeta } = meta ?? {};
  return (Object.keys(keepMeta).length > 0 ? { ...rest, meta: keepMeta } : rest) as Resource;
}

/** A failure of this adapter's own (an invalid or missing resource): a dead letter at once, never sent. */
function definitive(err: AppError) {
  return {
    code: err.code,
    message: err.message,
    status: undefined,
    retryAfterMs: undefined,
    outcome: undefined,
    retryable: false,
  };
}

export class OutboxWorker {
  readonly #o: OutboxWorkerOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  #pausedUntil = 0;

  constructor(options: OutboxWorkerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Rounds until nothing is due, upstream looks down, the budget is spent or the signal aborts. */
  async drain(signal?: AbortSignal, budgetMs = 50_000): Promise<RoundResult> {
    const total: RoundResult = { claimed: 0, delivered: 0, retrying: 0, dead: 0, released: 0, requeued: 0 };
    const until = this.#now() + budgetMs;
    while (!signal?.aborted && this.#now() < until) {
      const r = await this.round();
      for (const k of Object.keys(total) as (keyof RoundResult)[]) total[k] += r[k];
      if (r.claimed === 0 || r.retrying > 0 || r.released > 0) break;
    }
    return total;
  }

  async round(): Promise<RoundResult> {
    const result: RoundResult = { claimed: 0, delivered: 0, retrying: 0, dead: 0, released: 0, requeued: 0 };
    const now = this.#now();
    if (now < this.#pausedUntil) return result;
    const rows = await claimOutboxRows(this.#o.db, new Date(now), new Date(now + this.#o.leaseMs), this.#o.batchSize);
    result.claimed = rows.length;
    let stop = false;
    let next = 0;
    // Successes are recorded together at the end of the round (a crash before that re-sends them:
    // harmless, the write is a conditional update by identifier).
    const done: { row: ClaimedOutboxRow; status: number }[] = [];
    const lane = async (): Promise<void> => {
      for (;;) {
        const row = rows[next++];
        if (!row) return;
        if (stop) {
          await releaseOutboxRow(this.#o.db, row, new Date(Math.max(this.#pausedUntil, this.#now())));
          result.released += 1;
          continue;
        }
        const outcome = await this.#deliver(row, done);
        result[outcome] += 1;
        if (outcome === 'retrying') stop = true;
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, this.#o.concurrency ?? 4) }, lane));
    } finally {
      await markOutboxDelivered(this.#o.db, done);
    }
    return result;
  }

  async #deliver(
    row: ClaimedOutboxRow,
    done: { row: ClaimedOutboxRow; status: number }[],
  ): Promise<'delivered' | 'retrying' | 'dead' | 'requeued'> {
    try {
      done.push({ row, status: await this.#send(row) });
      return 'delivered';
    } catch (err) {
      // Anything not classified (a store read that failed, say) is retried: only a definitive
      // answer, or a resource that is gone, makes a dead letter before the maximum age.
      const e =
        err instanceof UpstreamError
          ? err
          : err instanceof AppError
            ? definitive(err)
            : new UpstreamError('UPSTREAM_NETWORK', `cannot deliver: ${(err as Error)?.message ?? String(err)}`, {
                cause: err,
              });
      const retryable = e.retryable;
      const delay = retryable ? backoffDelay(row.attempts, this.#o.backoff, e.retryAfterMs, this.#random) : 0;
      if (e.status === 429 && e.retryAfterMs !== undefined) this.#pausedUntil = this.#now() + e.retryAfterMs;
      const dead = await markOutboxFailed(this.#o.db, row, {
        status: e.status ?? null,
        error: `${e.code}: ${e.message}`,
        outcome: e.outcome,
        retryAt: retryable ? new Date(this.#now() + delay) : undefined,
        pendingSinceCutoff: new Date(this.#now() - this.#o.maxAgeMs),
      });
      if (dead) {
        this.#o.logger.warn('outbox item dead-lettered', {
          outboxId: row.id,
          resourceType: row.resourceType,
          status: e.status,
          code: e.code,
          error: e.message,
          retryable,
        });
        return 'dead';
      }
      return retryable ? 'retrying' : 'requeued';
    }
  }

  async #send(row: ClaimedOutboxRow): Promise<number> {
    const up = this.#o.upstream;
    if (row.operation === 'retract' && row.content === null) {
      return up.deleteByIdentifier(row.resourceType, row.identifierSystem, row.identifierValue);
    }
    const resource = row.content !== null ? (JSON.parse(row.content) as Resource) : await this.#stored(row);
    const body = upstreamBody(resource);
    const problem = outgoingProblem(body);
    if (problem) throw appError('OUTBOX_RESOURCE_INVALID', problem);
    const r = await up.putByIdentifier(body, row.identifierSystem, row.identifierValue);
    return r.status;
  }

  /** The version the row names, as the store holds it (the row keeps no copy: OutboxItem.stored). */
  async #stored(row: ClaimedOutboxRow): Promise<Resource> {
    const stored = await readVersion(this.#o.db, row.resourceType, row.resourceId, row.versionId);
    if (!stored?.content) {
      throw appError('OUTBOX_RESOURCE_MISSING', `${row.resourceType}/${row.resourceId}`);
    }
    return JSON.parse(stored.content) as Resource;
  }
}
