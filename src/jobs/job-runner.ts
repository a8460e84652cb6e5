/**
 * Scheduled jobs under node-cron, safe on several instances sharing one database: each job has a
 * name and a cron expression, never overlaps itself within an instance, and (when exclusive, the
 * default) runs each slot on exactly one instance: the one that inserts the slot's lease row first
 * (src/store/job-run-store.ts). Non-exclusive jobs (queue workers that claim rows with SKIP LOCKED)
 * run on every instance. JOB_SCHEDULES can override a job's cron expression or turn it off.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import { claimJobRun, finishJobRun, latestJobRuns, pruneJobRuns } from '../store/job-run-store.ts';

export interface JobRunContext {
  /** The cron slot this run is for (the same on every instance). */
  slot: Date;
  /** Aborted when the service stops: long runs should stop at the next safe point. */
  signal: AbortSignal;
}

export interface JobDefinition {
  /** Stable across instances and restarts: it keys the lease rows. Lower-case words and hyphens. */
  name: string;
  /** Default schedule (node-cron syntax, optional seconds field); JOB_SCHEDULES[name] overrides it. */
  cron: string;
  run(ctx: JobRunContext): Promise<void>;
  /** Default true: one instance per slot. false: every instance runs (the job coordinates itself). */
  exclusive?: boolean;
}

export interface JobState {
  name: string;
  cron: string;
  exclusive: boolean;
  enabled: boolean;
  running: boolean;
  nextRun: string | null;
  /** Latest run on any instance (exclusive jobs) or on this one. */
  lastRun: { slot: string; instanceId: string; status: string; startedAt: string; finishedAt: string | null } | null;
  lastError: { slot: string; instanceId: string; error: string } | null;
  /** This instance: runs executed, slots another instance took, and slots this one was too busy to run. */
  executed: number;
  skipped: number;
  missed: number;
}

interface Registered {
  def: JobDefinition;
  cron: string;
  task: ScheduledTask | undefined;
  running: Promise<void> | undefined;
  executed: number;
  skipped: number;
  missed: number;
  local: { slot: Date; status: string; startedAt: Date; finishedAt: Date | null; error: string | null } | null;
  localError: { slot: Date; error: string } | null;
}

export interface JobRunnerOptions {
  db: Db;
  logger: Logger;
  /** Overrides of cron expressions by job name; "off" disables a job. */
  schedules?: Record<string, string> | undefined;
  instanceId?: string;
  /** Lease rows older than this are pruned once a day (default 14 days). */
  historyDays?: number;
}

/**
 * How late a slot may still run. node-cron's default (1 s) drops a slot whose timer fires a second
 * late, and a process busy in one long statement (PGlite runs in this thread: a batch of outcome
 * writes holds it for seconds) fires every timer late: under a sustained load the embedded store's
 * checkpoint and maintenance jobs never ran (issue 20's bench: no run in 90 s of first
 * computation). A late slot is run, once, unless its next slot has come too; then only the latest
 * runs (node-cron's own rule), and the missed one is counted and logged.
 */
const LATE_SLOT_TOLERANCE_MS = 24 * 3_600_000;

export class JobRunner {
  readonly instanceId: string;
  readonly #db: Db;
  readonly #log: Logger;
  readonly #schedules: Record<string, string>;
  readonly #jobs = new Map<string, Registered>();
  readonly #abort = new AbortController();
  #stopped = false;

  constructor(options: JobRunnerOptions) {
    this.#db = options.db;
    this.#log = options.logger.child({ component: 'jobs' });
    this.#schedules = options.schedules ?? {};
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const days = options.historyDays ?? 14;
    this.scheduleJob({
      name: 'prune-job-history',
      cron: '17 3 * * *',
      run: () => pruneJobRuns(this.#db, new Date(Date.now() - days * 86_400_000)),
    });
  }

  scheduleJob(def: JobDefinition): void {
    if (!/^[a-z0-9-]+$/.test(def.name)) throw new Error(`JOB_NAME_INVALID: ${def.name}`);
    if (this.#jobs.has(def.name)) throw new Error(`JOB_DUPLICATE: ${def.name} is already scheduled`);
    if (this.#stopped) throw new Error('JOB_RUNNER_STOPPED');
    const expression = this.#schedules[def.name] ?? def.cron;
    if (expression !== 'off' && !cron.validate(expression)) {
      throw new Error(`JOB_CRON_INVALID: ${def.name}: ${expression}`);
    }
    const reg: Registered = {
      def,
      cron: expression,
      task: undefined,
      running: undefined,
      executed: 0,
      skipped: 0,
      missed: 0,
      local: null,
      localError: null,
    };
    this.#jobs.set(def.name, reg);
    if (expression === 'off') return;
    const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
    reg.task = cron.schedule(expression, (ctx) => this.#fire(reg, ctx.date), {
      name: `${def.name}@${this.instanceId}`,
      timezone: 'UTC',
      noOverlap: true,
      logger: silent,
      missedExecutionTolerance: LATE_SLOT_TOLERANCE_MS,
    });
    // Only a slot whose next one had come before it could run (see LATE_SLOT_TOLERANCE_MS).
    reg.task.on('execution:missed', (ctx) => {
      reg.missed += 1;
      this.#log.warn('job slot missed: the process was busy past the next slot', {
        job: def.name,
        slot: ctx.date.toISOString(),
      });
    });
  }

  /** Runs a job now, outside its schedule (admin action, tests); coordinated like a scheduled slot. */
  async runNow(name: string): Promise<'ran' | 'skipped' | 'busy'> {
    const reg = this.#jobs.get(name);
    if (!reg) throw new Error(`JOB_UNKNOWN: ${name}`);
    return this.#fire(reg, new Date());
  }

  async #fire(reg: Registered, slot: Date): Promise<'ran' | 'skipped' | 'busy'> {
    if (this.#stopped) return 'skipped';
    if (reg.running) return 'busy';
    const exclusive = reg.def.exclusive ?? true;
    let release!: () => void;
    reg.running = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      if (exclusive) {
        let won: boolean;
        try {
          won = await claimJobRun(this.#db, reg.def.name, slot, this.instanceId);
        } catch (err) {
          // Fail closed: without the lease row nobody knows whether another instance runs it.
          this.#log.error('job coordinator unavailable; slot skipped', { job: reg.def.name, err });
          return 'skipped';
        }
        if (!won) {
          reg.skipped += 1;
          return 'skipped';
        }
      }
      reg.executed += 1;
      reg.local = { slot, status: 'running', startedAt: new Date(), finishedAt: null, error: null };
      let error: string | undefined;
      try {
        await reg.def.run({ slot, signal: this.#abort.signal });
      } catch (err) {
        error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        reg.localError = { slot, error };
        this.#log.error('job failed', { job: reg.def.name, slot: slot.toISOString(), err });
      }
      reg.local = {
        ...reg.local,
        status: error ? 'failed' : 'succeeded',
        finishedAt: new Date(),
        error: error ?? null,
      };
      if (exclusive) {
        await finishJobRun(this.#db, reg.def.name, slot, error).catch((err: unknown) => {
          this.#log.warn('could not record job run', { job: reg.def.name, err });
        });
      }
      return 'ran';
    } finally {
      reg.running = undefined;
      release();
    }
  }

  async states(): Promise<JobState[]> {
    const { last, lastFailed } = await latestJobRuns(this.#db);
    const out: JobState[] = [];
    for (const reg of this.#jobs.values()) {
      const exclusive = reg.def.exclusive ?? true;
      const shared = exclusive ? last.find((r) => r.job === reg.def.name) : undefined;
      const failed = exclusive ? lastFailed.find((r) => r.job === reg.def.name) : undefined;
      const next = reg.task?.getNextRun() ?? null;
      out.push({
        name: reg.def.name,
        cron: reg.cron,
        exclusive,
        enabled: reg.cron !== 'off',
        running: reg.running !== undefined,
        nextRun: next ? next.toISOString() : null,
        lastRun: shared
          ? {
              slot: shared.slot,
              instanceId: shared.instanceId,
              status: shared.status,
              startedAt: shared.startedAt,
              finishedAt: shared.finishedAt,
            }
          : reg.local
            ? {
                slot: reg.local.slot.toISOString(),
                instanceId: this.instanceId,
                status: reg.local.status,
                startedAt: reg.local.startedAt.toISOString(),
                finishedAt: reg.local.finishedAt?.toISOString() ?? null,
              }
            : null,
        lastError: failed
          ? { slot: failed.slot, instanceId: failed.instanceId, error: failed.error ?? '' }
          : reg.localError
            ? { slot: reg.localError.slot.toISOString(), instanceId: this.instanceId, error: reg.localError.error }
            : null,
        executed: reg.executed,
        skipped: reg.skipped,
        missed: reg.missed,
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  has(name: string): boolean {
    return this.#jobs.has(name);
  }

  /** Stops scheduling, signals running jobs and waits for them (they finish their current step). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    for (const reg of this.#jobs.values()) await reg.task?.destroy();
    await Promise.all([...this.#jobs.values()].map((r) => r.running));
  }
}
