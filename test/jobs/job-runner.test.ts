// The job runner on its own: no overlap, failures recorded, schedules from configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.ts';
import { JobRunner } from '../../src/jobs/job-runner.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { listJobRuns } from '../../src/store/job-run-store.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('job runner', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('never overlaps a job with itself, and records each slot it ran', async () => {
    const jobs = new JobRunner({ db: t.db, logger: createLogger('silent'), instanceId: 'solo' });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    jobs.scheduleJob({
      name: 'slow-job',
      cron: '* * * * * *',
      run: async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await sleep(1500);
        running -= 1;
        runs += 1;
      },
    });
    await sleep(4200);
    await jobs.stop();
    expect(maxRunning).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThanOrEqual(3);
    const rows = await listJobRuns(t.db, 'slow-job');
    expect(rows).toHaveLength(runs);
    expect(rows.every((r) => r.status === 'succeeded' && r.instanceId === 'solo')).toBe(true);
  });

  it('runs a slot whose timer fired late because the process was busy (PGlite holds this thread)', async () => {
    const jobs = new JobRunner({ db: t.db, logger: createLogger('silent'), instanceId: 'solo' });
    const slots: string[] = [];
    jobs.scheduleJob({
      name: 'late-job',
      cron: '*/5 * * * * *',
      exclusive: false,
      run: async ({ slot }) => {
        slots.push(slot.toISOString());
      },
    });
    // Busy from 300 ms before a slot to 2.2 s after it: its timer fires about 2 s late.
    const slot = Math.ceil((Date.now() + 1000) / 5000) * 5000;
    await sleep(slot - 300 - Date.now());
    const until = slot + 2200;
    while (Date.now() < until) {
      // a synchronous statement of several seconds, as a large PGlite write is
    }
    await sleep(500);
    const [state] = (await jobs.states()).filter((s) => s.name === 'late-job');
    await jobs.stop();
    // node-cron's default tolerance (1 s) would have dropped it as missed.
    expect(slots).toContain(new Date(slot).toISOString());
    expect(state?.missed).toBe(0);
  });

  it('keeps the last error and the next run visible', async () => {
    const jobs = new JobRunner({ db: t.db, logger: createLogger('silent'), instanceId: 'solo' });
    jobs.scheduleJob({
      name: 'failing-job',
      cron: '0 0 1 1 *',
      run: async () => {
        throw new Error('RECOMPUTE_FAILED: boom');
      },
    });
    expect(await jobs.runNow('failing-job')).toBe('ran');
    const [state] = (await jobs.states()).filter((s) => s.name === 'failing-job');
    expect(state?.lastRun?.status).toBe('failed');
    expect(state?.lastError?.error).toBe('Error: RECOMPUTE_FAILED: boom');
    expect(state?.nextRun).toMatch(/^\d{4}-01-01T00:00:00\.000Z$/);
    await jobs.stop();
  });

  it('takes cron expressions from JOB_SCHEDULES, where "off" disables a job', async () => {
    const config = loadConfig({ JOB_SCHEDULES: JSON.stringify({ 'upstream-pull': '*/2 * * * *', 'test-off': 'off' }) });
    const jobs = new JobRunner({ db: t.db, logger: createLogger('silent'), schedules: config.JOB_SCHEDULES });
    let ran = false;
    jobs.scheduleJob({ name: 'upstream-pull', cron: '0 */15 * * * *', run: async () => {} });
    jobs.scheduleJob({
      name: 'test-off',
      cron: '* * * * * *',
      run: async () => {
        ran = true;
      },
    });
    await sleep(1200);
    const states = await jobs.states();
    expect(states.find((s) => s.name === 'upstream-pull')?.cron).toBe('*/2 * * * *');
    expect(states.find((s) => s.name === 'test-off')).toMatchObject({ enabled: false, nextRun: null });
    expect(ran).toBe(false);
    expect(() => jobs.scheduleJob({ name: 'upstream-pull', cron: '* * * * *', run: async () => {} })).toThrow(
      /JOB_DUPLICATE/,
    );
    await jobs.stop();
    expect(() => loadConfig({ JOB_SCHEDULES: '{"x":"every day"}' })).toThrow(/^configuration error: JOB_SCHEDULES/);
    expect(() => loadConfig({ JOB_SCHEDULES: 'not json' })).toThrow(/^configuration error: JOB_SCHEDULES/);
  });
});
