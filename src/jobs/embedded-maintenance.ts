/**
 * What autovacuum does on a PostgreSQL server, for the embedded store: PGlite runs PostgreSQL in
 * single-user mode, without autovacuum, so its tables would never get planner statistics (every
 * query planned from defaults: a search index ANDed with a scan of every row of a type, say) and
 * the space of superseded rows (outcome summaries, outbox rows) would never be reused. This job
 * runs VACUUM (ANALYZE) every 15 minutes. It holds PGlite's one connection while it runs: about
 * 0.6 s for a store of 10,000 retained results, during which requests wait.
 */
import type { Db } from '../store/db.ts';
import type { JobDefinition } from './job-runner.ts';

export const EMBEDDED_MAINTENANCE_CRON = '0 */15 * * * *';

export function embeddedMaintenanceJob(db: Db): JobDefinition {
  return {
    name: 'embedded-maintenance',
    cron: EMBEDDED_MAINTENANCE_CRON,
    run: async () => {
      await db.exec('VACUUM (ANALYZE)');
    },
  };
}
