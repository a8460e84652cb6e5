/**
 * Runs $export jobs from the database queue: claims one under a lease (SKIP LOCKED, so several
 * instances share the queue), streams each type in keyset batches into NDJSON chunks, and commits
 * each chunk with the job's resume point. A job whose instance died comes back when its lease
 * expires and resumes from its last committed batch; after BULK_EXPORT_MAX_ATTEMPTS it fails
 * (and keeps no partial output). Self-contained: one loop, started and stopped by start.ts.
 */
import { randomUUID } from 'node:crypto';
import { isRole } from '../auth/access-context.ts';
import { isBlinded } from '../auth/masking.ts';
import { jobAccess, planType } from '../fhir/bulk/export-plan.ts';
import { parseSpec } from '../fhir/bulk/export-spec.ts';
import { maskedText } from '../fhir/http/send.ts';
import { parseElements, subsetText } from '../fhir/search/subsetting.ts';
import type { Logger } from '../shared/logger.ts';
import {
  claimJob,
  commitBatch,
  completeJob,
  deleteExpiredJobs,
  type ExportJob,
  type ExportRow,
  failJob,
  readExportBatch,
  releaseLeases,
} from '../store/bulk-export-store.ts';
import type { Db } from '../store/db.ts';

export interface BulkExportWorkerOptions {
  db: Db;
  logger: Logger;
  baseUrl: string;
  batchSize: number;
  leaseSeconds: number;
  ttlHours: number;
  maxAttempts: number;
  /** Pause between batches (lets foreground requests through on a busy store). */
  throttleMs: number;
  /** How often an idle worker looks for work. */
  idleMs?: number | undefined;
}

/** Thrown inside a job when this worker must stop working on it (stopping, lease lost, cancelled). */
class Abandon extends Error {}

export class BulkExportWorker {
  readonly owner = `worker-${randomUUID()}`;
  readonly #o: BulkExportWorkerOptions;
  #running: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;
  #lastCleanup = 0;

  constructor(options: BulkExportWorkerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  /** Looks for work now (a kick-off on this instance). */
  wake(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#running;
    await releaseLeases(this.#o.db, this.owner).catch((err: unknown) => {
      this.#o.logger.warn('bulk export: could not release leases', { err });
    });
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      let worked = false;
      try {
        await this.#cleanup();
        const job = await claimJob(this.#o.db, this.owner, this.#o.leaseSeconds);
        if (job) {
          worked = true;
          await this.#run(job);
        }
      } catch (err) {
        this.#o.logger.error('bulk export worker error', { err });
      }
      if (!worked && !this.#stopping) await this.#sleep(this.#o.idleMs ?? 500);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #cleanup(): Promise<void> {
    if (Date.now() - this.#lastCleanup < 10_000) return;
    this.#lastCleanup = Date.now();
    const n = await deleteExpiredJobs(this.#o.db);
    if (n > 0) this.#o.logger.info('bulk export: expired jobs removed', { jobs: n });
  }

  async #run(job: ExportJob): Promise<void> {
    const { db, logger } = this.#o;
    if (job.attempts > this.#o.maxAttempts) {
      await failJob(db, job.jobId, `Export abandoned after ${job.attempts - 1} interrupted attempts`);
      logger.warn('bulk export failed', { jobId: job.jobId, attempts: job.attempts });
      return;
    }
    try {
      await this.#export(job);
      if (await completeJob(db, job.jobId, this.owner, this.#o.ttlHours)) {
        logger.info('bulk export completed', { jobId: job.jobId });
      }
    } catch (err) {
      if (err instanceof Abandon) return;
      // Bad spec or a query the store refuses: retrying would fail the same way.
      logger.error('bulk export failed', { jobId: job.jobId, err });
      await failJob(db, job.jobId, (err as Error).message);
    }
  }

  async #export(job: ExportJob): Promise<void> {
    const spec = parseSpec(job.spec);
    if (!isRole(job.role)) throw new Error(`job ${job.jobId} has an unknown role`);
    const access = jobAccess(job.clientId, job.role);
    const blinded = isBlinded(access);
    const subsetting = spec.elements ? parseElements(spec.elements) : undefined;
    if (subsetting && 'invalid' in subsetting)
      throw new Error(`_elements: ${subsetting.invalid} is not a root element name`);
    let typeIndex = job.typeIndex;
    let after = job.afterSeq;
    const read = (index: number, afterSeq: string): Promise<ExportRow[]> => {
      const type = spec.types[index] as string;
      const plan = planType(spec, type, access);
      if (plan.hidden) return Promise.resolve([]);
      return readExportBatch(this.#o.db, {
        resourceType: type,
        scope: { level: spec.level, patientIds: spec.patientIds },
        requests: plan.requests,
        afterSeq,
        transactionTime: job.transactionTime,
        since: spec.since,
        limit: this.#o.batchSize,
        baseUrl: this.#o.baseUrl,
      });
    };
    let pending = typeIndex < spec.types.length ? read(typeIndex, after) : undefined;
    while (pending) {
      const type = spec.types[typeIndex] as string;
      const rows = await pending;
      if (this.#stopping) throw new Abandon();
      const last = rows.length < this.#o.batchSize;
      const nextType = last ? typeIndex + 1 : typeIndex;
      const nextAfter = last ? '0' : (rows[rows.length - 1]?.seq ?? after);
      // Read the next window while this one is written (a pool overlaps them; PGlite queues them).
      pending = nextType < spec.types.length ? read(nextType, nextAfter) : undefined;
      pending?.catch(() => undefined);
      let content = '';
      let count = 0;
      for (const row of rows) {
        if (row.content === null) continue;
        // Stored text goes out as is; only masked roles pay for a parse, and only multi-line text
        // (never written by this server, but NDJSON must be one line) is re-serialised.
        let line = blinded ? maskedText(row.content, access) : row.content;
        if (line === undefined) continue;
        if (subsetting) line = subsetText(line, subsetting);
        if (line.includes('\n')) line = JSON.stringify(JSON.parse(line));
        content += `${line}\n`;
        count++;
      }
      const committed = await this.#o.db.transaction((tx) =>
        commitBatch(tx, {
          jobId: job.jobId,
          owner: this.owner,
          leaseSeconds: this.#o.leaseSeconds,
          typeIndex: nextType,
          afterSeq: nextAfter,
          chunk: count > 0 ? { fileNo: typeIndex + 1, resourceType: type, content, count } : undefined,
        }),
      );
      if (!committed) throw new Abandon();
      typeIndex = nextType;
      after = nextAfter;
      if (this.#o.throttleMs > 0) await new Promise((r) => setTimeout(r, this.#o.throttleMs));
    }
  }
}
