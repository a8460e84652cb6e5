/** Subjects whose outcome recomputation failed, in /metrics, read from the store when scraped. */
import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../store/db.ts';
import { countOutcomeFailures } from '../store/outcome-failure-store.ts';

export function registerOutcomeMetrics(registry: Registry, db: Db): void {
  new Gauge({
    name: 'khe_outcome_failed_subjects',
    help: 'ResearchSubjects whose outcome recomputation failed and waits for a retry (see /admin/outcomes)',
    registers: [registry],
    async collect() {
      this.set(await countOutcomeFailures(db));
    },
  });
}
