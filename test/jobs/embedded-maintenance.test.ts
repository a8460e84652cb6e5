// Fixtures WRITTEN FOR THE TESTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platelets } from '../../bench/fixtures/observation.ts';
import { embeddedMaintenanceJob } from '../../src/jobs/embedded-maintenance.ts';
import { enroll } from '../support/enroll.ts';
import { testBackend } from '../support/test-db.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

describe(`embedded store maintenance (${testBackend()})`, () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('runs on PGlite only (a PostgreSQL server has autovacuum), giving its planner statistics', async () => {
    expect(s.service.jobs.has('embedded-maintenance')).toBe(testBackend() === 'pglite');
    if (testBackend() !== 'pglite') return;
    await enroll(s, 'maint-p1', { start: '2021-03-01' });
    for (let i = 0; i < 20; i++) {
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: JSON.stringify(platelets(i, 'maint-p1')),
      });
      expect(r.status).toBe(201);
    }
    const db = s.testDb.db;
    const tuples = async (table: string): Promise<number> =>
      Number(
        (await db.query<{ n: number }>('SELECT reltuples AS n FROM pg_class WHERE relname = $1', [table])).rows[0]?.n,
      );
    // Never analysed: the planner would work from defaults.
    expect(await tuples('sp_token')).toBeLessThanOrEqual(0);
    await embeddedMaintenanceJob(db).run({ slot: new Date(), signal: new AbortController().signal });
    expect(await tuples('sp_token')).toBeGreaterThan(100);
    const stats = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stats WHERE tablename = 'sp_token' AND attname IN ('param', 'code', 'id')",
    );
    expect(Number(stats.rows[0]?.n)).toBe(3);
    const vacuumed = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_user_tables WHERE relname = 'resources' AND last_vacuum IS NOT NULL",
    );
    expect(Number(vacuumed.rows[0]?.n)).toBe(1);
  });
});
