import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CheckpointState,
  checkpointDue,
  embeddedCheckpointJob,
  readCheckpointState,
} from '../../src/jobs/embedded-checkpoint.ts';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open-db.ts';
import { testBackend } from '../support/test-db.ts';
import { startTestService } from '../support/test-service.ts';

const MB = 1048576;
const base: CheckpointState = { walSince: 0, age: 0, maxWalBytes: 1024 * MB, timeoutSeconds: 300 };

describe('checkpointDue (PostgreSQL checkpointer triggers)', () => {
  it.each([
    ['nothing written, however long ago', { walSince: 0, age: 10_000 }, false],
    ['a little WAL, recent checkpoint', { walSince: 10 * MB, age: 60 }, false],
    ['half of max_wal_size written', { walSince: 512 * MB, age: 1 }, true],
    ['just under half', { walSince: 512 * MB - 1, age: 299 }, false],
    ['checkpoint_timeout passed with WAL written', { walSince: 1, age: 300 }, true],
  ] as const)('%s', (_label, over, due) => {
    expect(checkpointDue({ ...base, ...over })).toBe(due);
  });
});

describe(`embedded checkpoint job (${testBackend()})`, () => {
  it('is scheduled on PGlite only (a PostgreSQL server has its checkpointer)', async () => {
    const s = await startTestService();
    try {
      expect(s.service.jobs.has('embedded-checkpoint')).toBe(testBackend() === 'pglite');
    } finally {
      await s.stop();
    }
  });

  // On disk, as `npm start` runs it (PGlite whatever DATABASE_URL says: run in the PGlite pass only).
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const segments = (dir: string): number =>
    readdirSync(join(dir, 'pglite', 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;
  /** A store whose max_wal_size is the smallest PostgreSQL allows (32 MB), so a test can pass it. */
  async function smallWalStore(): Promise<{ db: Db; dir: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'khe-ckpt-'));
    dirs.push(dir);
    await (await openDb({ dataDir: dir })).close();
    appendFileSync(join(dir, 'pglite', 'postgresql.auto.conf'), "max_wal_size = '32MB'\n");
    const db = await openDb({ dataDir: dir });
    await db.exec(`CREATE TABLE wal_filler (body text)`);
    return { db, dir };
  }
  const fill = (db: Db): Promise<void> =>
    db.exec(`INSERT INTO wal_filler SELECT repeat(md5(g::text), 16) FROM generate_series(1, 20000) g`);

  it('keeps pg_wal bounded under a long write load, where single-user PGlite alone lets it grow', async () => {
    if (testBackend() === 'postgresql') {
      // The premise on a server: its checkpointer process does this (the job is not scheduled).
      const s = await startTestService();
      try {
        const r = await s.testDb.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
        );
        expect(r.rows[0]?.n).toBe(1);
      } finally {
        await s.stop();
      }
      return;
    }
    const without = await smallWalStore();
    const withJob = await smallWalStore();
    const job = embeddedCheckpointJob(withJob.db);
    const ctx = { slot: new Date(), signal: new AbortController().signal };
    try {
      expect((await readCheckpointState(withJob.db)).maxWalBytes).toBe(32 * MB);
      // About 13 MB of WAL a round, 150 MB in all: nearly five times max_wal_size.
      for (let i = 0; i < 12; i++) {
        await fill(without.db);
        await fill(withJob.db);
        await job.run(ctx);
      }
      const unchecked = await readCheckpointState(without.db);
      const checked = await readCheckpointState(withJob.db);
      // Nothing checkpointed the first store: all its WAL is since its last (start-up) checkpoint.
      expect(unchecked.walSince).toBeGreaterThan(120 * MB);
      expect(segments(without.dir)).toBeGreaterThan(7);
      // The job checkpointed each time half of max_wal_size had been written.
      expect(checked.walSince).toBeLessThan(32 * MB);
      expect(segments(withJob.dir)).toBeLessThanOrEqual(6);
      // Below the trigger the job does nothing: the redo point stays where it is.
      if ((await readCheckpointState(withJob.db)).walSince >= 16 * MB) await job.run(ctx);
      const before = (
        await withJob.db.query<{ redo: string }>('SELECT redo_lsn::text AS redo FROM pg_control_checkpoint()')
      ).rows[0]?.redo;
      await job.run(ctx);
      const after = (
        await withJob.db.query<{ redo: string }>('SELECT redo_lsn::text AS redo FROM pg_control_checkpoint()')
      ).rows[0]?.redo;
      expect(after).toBe(before);
    } finally {
      await without.db.close();
      await withJob.db.close();
    }
  }, 120_000);
});
