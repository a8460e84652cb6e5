import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/app/start.ts';
import { listJobRuns } from '../../src/store/job-run-store.ts';
import { type SecondInstance, startSecondInstance } from '../support/second-instance.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('two instances on one database', () => {
  let a: TestService;
  let second: SecondInstance;
  let b: RunningService;
  beforeAll(async () => {
    a = await startTestService({ LOG_LEVEL: 'silent' });
    second = await startSecondInstance(a);
    b = second.service;
  });
  afterAll(async () => {
    await second.stop();
    await a.stop();
  });

  it('runs each slot of a job registered on both exactly once', async () => {
    const executions: { slot: string; instance: string }[] = [];
    for (const s of [a.service, b]) {
      s.jobs.scheduleJob({
        name: 'recompute-outcomes',
        cron: '* * * * * *',
        run: async ({ slot }) => {
          executions.push({ slot: slot.toISOString(), instance: s.jobs.instanceId });
          await sleep(50);
        },
      });
    }
    await sleep(5200);
    const res = await a.call('/admin/jobs');
    expect(res.status).toBe(200);
    const view = (await res.json()) as {
      jobs: {
        name: string;
        lastRun: { status: string } | null;
        nextRun: string | null;
        executed: number;
        skipped: number;
      }[];
    };
    await a.service.jobs.stop();
    await b.jobs.stop();

    const slots = new Set(executions.map((e) => e.slot));
    expect(slots.size).toBeGreaterThanOrEqual(4);
    expect(executions).toHaveLength(slots.size); // no slot ran twice
    const rows = await listJobRuns(a.testDb.db, 'recompute-outcomes');
    expect(rows.map((r) => r.slot).sort()).toEqual([...slots].sort());
    expect(new Set(rows.map((r) => r.instanceId))).toEqual(new Set(executions.map((e) => e.instance)));
    const states = await Promise.all([a.service.jobs.states(), b.jobs.states()]);
    const mine = states.map((s) => s.find((j) => j.name === 'recompute-outcomes'));
    // Every slot was claimed by one instance and skipped by the other.
    expect((mine[0]?.executed ?? 0) + (mine[1]?.executed ?? 0)).toBe(slots.size);
    expect((mine[0]?.skipped ?? 0) + (mine[1]?.skipped ?? 0)).toBeGreaterThanOrEqual(slots.size - 1);
    const job = view.jobs.find((j) => j.name === 'recompute-outcomes');
    expect(job?.lastRun?.status).toMatch(/^(succeeded|running)$/);
    expect(job?.nextRun).not.toBeNull();
  });

  it('shows jobs to admins only', async () => {
    expect((await a.call('/admin/jobs', { role: 'research' })).status).toBe(403);
    expect((await a.call('/admin/jobs', { role: 'none' })).status).toBe(401);
  });
});
