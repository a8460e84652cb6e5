/**
 * Keeps outcomes current: drains the recomputation marks ingest writes, shortly after they are
 * written. Every instance runs one; they share the marks through SKIP LOCKED, so adding instances
 * adds throughput and a crashed instance's batch simply rolls back to be taken again.
 */

import type { OutcomeEngine } from '../outcomes/recompute.ts';
import type { Logger } from '../shared/logger.ts';

export interface OutcomeWorkerOptions {
  /** How long to wait between polls when there is nothing to do. */
  idleMs: number;
  /** Marks per batch; unset, the engine's own (adapting on PGlite). */
  batchMarks?: number;
}

export class OutcomeWorker {
  readonly #engine: OutcomeEngine;
  readonly #log: Logger;
  readonly #options: OutcomeWorkerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #failures = 0;

  constructor(engine: OutcomeEngine, log: Logger, options: OutcomeWorkerOptions) {
    this.#engine = engine;
    this.#log = log;
    this.#options = options;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Ingest just committed marks: look now rather than at the next poll. */
  nudge(): void {
    if (this.#stopped || this.#running) return;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let next = this.#options.idleMs;
    try {
      const r = await this.#engine.recomputeSome(this.#options.batchMarks);
      this.#failures = 0;
      if (r) {
        next = 0;
        this.#log.debug('outcomes recomputed', { subjects: r.subjects, changed: r.changedCount });
      }
    } catch (err) {
      this.#failures++;
      // Back off (up to a minute) while the store is unavailable; the marks wait in the database.
      next = Math.min(60_000, this.#options.idleMs * 2 ** this.#failures);
      this.#log.warn('outcome recomputation failed; will retry', { err, retryInMs: next });
    }
    if (!this.#stopped) this.#schedule(next);
  }
}
