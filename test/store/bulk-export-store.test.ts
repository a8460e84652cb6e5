import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulkExportWorker } from '../../src/jobs/bulk-export-worker.ts';
import { createLogger } from '../../src/shared/logger.ts';
import {
  claimJob,
  commitBatch,
  createJob,
  deleteExpiredJobs,
  failJob,
  getJob,
  listFiles,
} from '../../src/store/bulk-export-store.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

const spec = JSON.stringify({ level: 'system', types: ['Patient'], typeFilters: {}, ignored: [] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bulk export job store: leases, resume points, failure and expiry', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  const newJob = (jobId: string, ttlHours = 1) =>
    createJob(t.db, {
      jobId,
      requestUrl: 'http://x/fhir/$export',
      clientId: 'c1',
      role: 'admin',
      spec,
      transactionTime: new Date().toISOString(),
      ttlHours,
    });

  it('gives a job to one worker at a time, and to another only once the lease has expired', async () => {
    const id = '00000000-0000-4000-8000-000000000001';
    await newJob(id);
    const a = await claimJob(t.db, 'A', 1);
    expect(a?.jobId).toBe(id);
    expect(await claimJob(t.db, 'B', 1)).toBeUndefined();
    const chunk = { fileNo: 1, resourceType: 'Patient', content: '{"resourceType":"Patient","id":"p1"}\n', count: 1 };
    expect(
      await t.db.transaction((tx) =>
        commitBatch(tx, { jobId: id, owner: 'A', leaseSeconds: 1, typeIndex: 0, afterSeq: '41', chunk }),
      ),
    ).toBe(true);
    await sleep(1100);
    const b = await claimJob(t.db, 'B', 30);
    // B resumes where A's last committed batch ended.
    expect(b).toMatchObject({ jobId: id, typeIndex: 0, afterSeq: '41', exported: 1, attempts: 2 });
    // A, back from a pause, has lost the job: its batch is refused and nothing is written.
    expect(
      await t.db.transaction((tx) =>
        commitBatch(tx, { jobId: id, owner: 'A', leaseSeconds: 1, typeIndex: 0, afterSeq: '99', chunk }),
      ),
    ).toBe(false);
    expect((await listFiles(t.db, id))[0]).toMatchObject({ count: 1, chunks: 1 });
    await failJob(t.db, id, 'test');
    expect(await listFiles(t.db, id)).toEqual([]);
    expect((await getJob(t.db, id))?.status).toBe('failed');
  });

  it('fails a job cleanly once it was interrupted too often', async () => {
    const id = '00000000-0000-4000-8000-000000000002';
    await newJob(id);
    await t.db.query('UPDATE bulk_export_jobs SET attempts = 3 WHERE job_id = $1', [id]);
    const worker = new BulkExportWorker({
      db: t.db,
      logger: createLogger('silent'),
      baseUrl: 'http://x/fhir',
      batchSize: 10,
      leaseSeconds: 5,
      ttlHours: 1,
      maxAttempts: 3,
      throttleMs: 0,
      idleMs: 20,
    });
    worker.start();
    for (let i = 0; i < 100 && (await getJob(t.db, id))?.status !== 'failed'; i++) await sleep(20);
    await worker.stop();
    const job = await getJob(t.db, id);
    expect(job?.status).toBe('failed');
    expect(job?.error).toContain('interrupted');
    expect(await listFiles(t.db, id)).toEqual([]);
  });

  it('removes expired jobs with their files', async () => {
    const id = '00000000-0000-4000-8000-000000000003';
    await newJob(id, 0.5 / 3600);
    expect(await getJob(t.db, id)).toBeDefined();
    await sleep(700);
    expect(await getJob(t.db, id)).toBeUndefined();
    expect(await deleteExpiredJobs(t.db)).toBeGreaterThanOrEqual(1);
    const left = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM bulk_export_jobs WHERE job_id = $1', [
      id,
    ]);
    expect(left.rows[0]?.n).toBe('0');
  });
});
