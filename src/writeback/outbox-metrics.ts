/** Write-back queue depth, dead letters and delivery lag in /metrics, read from the outbox when scraped. */
import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../store/db.ts';
import { outboxStats } from '../store/outbox-store.ts';

export function registerOutboxMetrics(registry: Registry, db: Db): void {
  let pending: Promise<Awaited<ReturnType<typeof outboxStats>>> | undefined;
  // One query per scrape for the three gauges.
  const stats = () => {
    pending ??= outboxStats(db).finally(() => {
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
}
