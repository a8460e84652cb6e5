/**
 * Write-back queue depth, dead letters, the age of the oldest pending item and the alert it raises
 * in /metrics, read from the outbox when scraped; the same health for GET /admin/outbox.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Queryable } from '../store/db.ts';
import { type OutboxStats, outboxStats } from '../store/outbox-store.ts';

export interface OutboxHealth extends OutboxStats {
  /** Seconds the oldest pending item has waited to be delivered (0 when none). */
  oldestPendingAgeSeconds: number;
  /** Raised when the oldest pending item is older than OUTBOX_ALERT_AGE_MINUTES. */
  alert: boolean;
  alertAgeSeconds: number;
}

export async function outboxHealth(db: Queryable, alertAgeSeconds: number): Promise<OutboxHealth> {
  const stats = await outboxStats(db);
  return {
    ...stats,
    oldestPendingAgeSeconds: stats.lagSeconds,
    alert: stats.pending > 0 && stats.lagSeconds > alertAgeSeconds,
    alertAgeSeconds,
  };
}

export function registerOutboxMetrics(registry: Registry, db: Queryable, alertAgeSeconds: number): void {
  let pending: Promise<OutboxHealth> | undefined;
  // One query per scrape for all the gauges.
  const stats = () => {
    pending ??= outboxHealth(db, alertAgeSeconds).finally(() => {
      setImmediate(() => {
        pending = undefined;
      });
    });
    return pending;
  };
  new Gauge({
    name: 'khe_outbox_queue_depth',
    help: 'Write-back resources waiting for delivery upstream',
    registers: [registry],
    async collect() {
      this.set((await stats()).pending);
    },
  });
  new Gauge({
    name: 'khe_outbox_dead_letters',
    help: 'Write-back resources in the dead-letter state',
    registers: [registry],
    async collect() {
      this.set((await stats()).dead);
    },
  });
  new Gauge({
    name: 'khe_outbox_delivery_lag_seconds',
    help: 'Age of the oldest change not yet delivered upstream (0 when none)',
    registers: [registry],
    async collect() {
      this.set((await stats()).lagSeconds);
    },
  });
  new Gauge({
    name: 'khe_outbox_oldest_pending_age_seconds',
    help: 'Seconds the oldest write-back item still pending has waited (0 when none)',
    registers: [registry],
    async collect() {
      this.set((await stats()).oldestPendingAgeSeconds);
    },
  });
  new Gauge({
    name: 'khe_outbox_alert',
    help: 'Write-back alert: 1 when the oldest pending item is older than OUTBOX_ALERT_AGE_MINUTES',
    registers: [registry],
    async collect() {
      this.set((await stats()).alert ? 1 : 0);
    },
  });
}
