/**
 * Keeps the audit trail's monthly partitions (src/store/audit-store.ts): creates the partitions of
 * the current month and AUDIT_PARTITIONS_AHEAD months after it, gives every event waiting in a
 * default partition its month, and detaches and drops the partitions wholly older than
 * AUDIT_RETENTION_MONTHS: a month is dropped only once its last instant is more than that many
 * months ago, so nothing inside the retention period is ever deleted, and nothing is deleted row by
 * row. Runs at start-up and daily on every instance; the partitions' advisory lock lets one
 * instance at a time do the work (a second finds it held and does nothing).
 */
import type { Logger } from '../shared/logger.ts';
import {
  auditMonthsInDefault,
  auditPartitionMonths,
  createAuditPartition,
  dropAuditPartition,
  withAuditPartitionLock,
} from '../store/audit-store.ts';
import type { Db } from '../store/db.ts';
import type { JobDefinition } from './job-runner.ts';

export const AUDIT_RETENTION_CRON = '23 2 * * *';

export interface AuditRetentionOptions {
  /** Months an AuditEvent is kept (default 84, seven years). */
  retentionMonths: number;
  /** Future months whose partitions exist ahead of time. */
  partitionsAhead: number;
}

export interface AuditRetentionResult {
  created: string[];
  dropped: string[];
}

/** 'YYYY-MM' of the month `offset` months from the month of `at` (UTC). */
export function monthOf(at: Date, offset = 0): string {
  const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * The months to drop at `now`: those whose end is at or before now minus the retention period, i.e.
 * before the month of that instant (the month holding it is partly inside the period: kept).
 */
export function expiredMonths(months: readonly string[], now: Date, retentionMonths: number): string[] {
  const oldestKept = monthOf(now, -retentionMonths);
  return months.filter((m) => m < oldestKept);
}

/** One run; undefined when another instance holds the lock. */
export async function runAuditRetention(
  db: Db,
  options: AuditRetentionOptions,
  now: Date = new Date(),
): Promise<AuditRetentionResult | undefined> {
  return withAuditPartitionLock(db, async (tx) => {
    const created: string[] = [];
    const wanted = new Set(await auditMonthsInDefault(tx));
    for (let i = 0; i <= options.partitionsAhead; i++) wanted.add(monthOf(now, i));
    for (const month of [...wanted].sort()) {
      if (await createAuditPartition(tx, month)) created.push(month);
    }
    const dropped = expiredMonths(await auditPartitionMonths(tx), now, options.retentionMonths);
    for (const month of dropped) await dropAuditPartition(tx, month);
    return { created, dropped };
  });
}

export function auditRetentionJob(db: Db, logger: Logger, options: AuditRetentionOptions): JobDefinition {
  return {
    name: 'audit-retention',
    cron: AUDIT_RETENTION_CRON,
    // Every instance runs it; the advisory lock keeps the DDL to one at a time.
    exclusive: false,
    run: async () => {
      const r = await runAuditRetention(db, options);
      if (r && (r.created.length > 0 || r.dropped.length > 0))
        logger.info('audit partitions', { created: r.created, dropped: r.dropped });
    },
  };
}
