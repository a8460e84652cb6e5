/**
 * Writes an EHR feed sends that are turned away and touch nothing (a result for a patient who is
 * not enrolled, or in a code no measure uses: answered 202, nothing stored) do not leave an
 * AuditEvent each: they are counted here per client and reason, and each interval every client
 * with counts gets one summary AuditEvent (src/auth/audit-event.ts buildSummaryAuditEvent), written
 * through the same AuditWriter as every other record. The counts live in this instance's memory
 * until written; a write that fails keeps them for the next try, and stopping the service writes
 * what is left. Every other request keeps its own AuditEvent (src/app/audit-trail.ts).
 */
import type { AuditEvent } from '@medplum/fhirtypes';
import type { Counter } from 'prom-client';
import type { AccessContext } from '../auth/access-context.ts';
import { buildSummaryAuditEvent } from '../auth/audit-event.ts';
import type { Logger } from '../shared/logger.ts';

type Client = Pick<AccessContext, 'clientId' | 'clientName' | 'role'>;

interface Pending {
  client: Client;
  counts: Map<string, number>;
  start: Date;
}

export interface AuditSummaryOptions {
  /** Where the summaries go: AuditWriter.record (resolves once committed). */
  record(event: AuditEvent): Promise<void>;
  logger: Logger;
  /** khe_not_retained_writes_total{client, reason}. */
  counter?: Counter<'client' | 'reason'> | undefined;
  /** How often the counts are written (AUDIT_SUMMARY_INTERVAL_SECONDS). */
  intervalMs: number;
}

export class AuditSummary {
  readonly #options: AuditSummaryOptions;
  #pending = new Map<string, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(options: AuditSummaryOptions) {
    this.#options = options;
  }

  /** Writes the counts every interval from now on (until close()). */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.flush().catch((err: unknown) =>
        this.#options.logger.error('audit summary not written; its counts are kept for the next interval', { err }),
      );
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  count(client: Client, reason: string): void {
    this.#options.counter?.inc({ client: client.clientId, reason });
    let p = this.#pending.get(client.clientId);
    if (!p) {
      p = {
        client: { clientId: client.clientId, clientName: client.clientName, role: client.role },
        counts: new Map(),
        start: new Date(),
      };
      this.#pending.set(client.clientId, p);
    }
    p.counts.set(reason, (p.counts.get(reason) ?? 0) + 1);
  }

  /** Counts not yet written, per client and reason (operators' view, tests). */
  pending(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [id, p] of this.#pending) out[id] = Object.fromEntries(p.counts);
    return out;
  }

  /**
   * Writes one summary per client with counts; resolves when all are committed. Rejects when one
   * could not be written, whose counts are then kept (added to what was counted meanwhile).
   */
  flush(): Promise<void> {
    // One flush at a time: a second waits for the first, then writes what came since.
    const run = this.#flushing.then(() => this.#flushNow());
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async #flushNow(): Promise<void> {
    if (this.#pending.size === 0) return;
    const taken = this.#pending;
    this.#pending = new Map();
    const end = new Date();
    const results = await Promise.allSettled(
      [...taken.values()].map((p) =>
        this.#options.record(
          buildSummaryAuditEvent({ client: p.client, counts: p.counts, start: p.start, end, recorded: end }),
        ),
      ),
    );
    const failed: unknown[] = [];
    [...taken.values()].forEach((p, i) => {
      const r = results[i];
      if (r?.status !== 'rejected') return;
      failed.push(r.reason);
      this.#restore(p);
    });
    if (failed.length > 0) throw new AggregateError(failed, `${failed.length} audit summary record(s) not written`);
  }

  /** Puts counts that could not be written back, ahead of what was counted since. */
  #restore(p: Pending): void {
    const now = this.#pending.get(p.client.clientId);
    if (!now) {
      this.#pending.set(p.client.clientId, p);
      return;
    }
    for (const [reason, n] of p.counts) now.counts.set(reason, (now.counts.get(reason) ?? 0) + n);
    if (p.start < now.start) now.start = p.start;
  }

  /** Stops the interval and writes what is left (shutdown); logs counts it could not write. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      await this.flush();
    } catch (err) {
      this.#options.logger.error('audit summary not written at shutdown', { err, counts: this.pending() });
    }
  }
}
