import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';
import { ASYNC, download, kickoff, pathOf, sleep, waitForManifest } from './bulk-helpers.ts';

/** 300 patients in one transaction (written for the tests). */
async function seedPatients(s: TestService, n: number, prefix: string): Promise<void> {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: Array.from({ length: n }, (_, i) => ({
      resource: { resourceType: 'Patient', id: `${prefix}-${i}`, birthDate: '2021-06-01' },
      request: { method: 'PUT', url: `Patient/${prefix}-${i}` },
    })),
  };
  const res = await s.call('/fhir', { method: 'POST', body: JSON.stringify(bundle) });
  expect(res.status).toBe(200);
}

const chunkRows = async (s: TestService, jobId: string) =>
  Number(
    (
      await s.testDb.db.query<{ n: string }>('SELECT count(*)::text AS n FROM bulk_export_chunks WHERE job_id = $1', [
        jobId,
      ])
    ).rows[0]?.n,
  );

describe('Bulk Data job lifecycle: polling rate, cancel, expiry', () => {
  let slow: TestService;
  let quick: TestService;
  beforeAll(async () => {
    // Slow exports (one Patient per batch, 50 ms apart) so that a job is still running when polled.
    slow = await startTestService({
      BULK_EXPORT_MIN_POLL_MS: '1500',
      BULK_EXPORT_BATCH_SIZE: '1',
      BULK_EXPORT_THROTTLE_MS: '50',
    });
    await seedPatients(slow, 300, 'lc');
    // Files that expire two seconds after the export completes.
    quick = await startTestService({ BULK_EXPORT_MIN_POLL_MS: '100', BULK_EXPORT_TTL_HOURS: String(2 / 3600) });
    await seedPatients(quick, 20, 'ex');
  });
  afterAll(async () => {
    await slow.stop();
    await quick.stop();
  });

  it('answers 202 with X-Progress and Retry-After while running, and 429 when polled too fast', async () => {
    const status = await kickoff(slow, '/fhir/$export?_type=Patient');
    await sleep(300);
    const first = await slow.call(pathOf(slow, status));
    expect(first.status).toBe(202);
    expect(first.headers.get('retry-after')).toBe('2');
    const progress = first.headers.get('x-progress') ?? '';
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThan(100);
    expect(progress).toMatch(/^\d+ resources; Patient \(1\/1\)$/);
    const second = await slow.call(pathOf(slow, status));
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('2');
    expect(((await second.json()) as OperationOutcome).issue[0]?.code).toBe('throttled');
    await sleep(1600);
    const third = await slow.call(pathOf(slow, status));
    expect(third.status).toBe(202);
    const later = Number(/^(\d+)/.exec(third.headers.get('x-progress') ?? '')?.[1]);
    expect(later).toBeGreaterThan(Number(/^(\d+)/.exec(progress)?.[1]));
    await slow.call(pathOf(slow, status), { method: 'DELETE' });
  });

  it('cancels a running export with DELETE: 202, its files removed, then 404', async () => {
    const status = await kickoff(slow, '/fhir/$export?_type=Patient');
    const jobId = status.split('/').pop() as string;
    await sleep(400);
    expect(await chunkRows(slow, jobId)).toBeGreaterThan(0);
    const del = await slow.call(pathOf(slow, status), { method: 'DELETE' });
    expect(del.status).toBe(202);
    const gone = await slow.call(pathOf(slow, status));
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    // The worker was mid-job: it must not write anything more for the cancelled job.
    await sleep(300);
    expect(await chunkRows(slow, jobId)).toBe(0);
    expect((await slow.call(pathOf(slow, status), { method: 'DELETE' })).status).toBe(404);
  });

  it('cancels a completed export: its files answer 404 afterwards', async () => {
    const status = await kickoff(quick, '/fhir/$export?_type=Patient');
    const manifest = await waitForManifest(quick, status);
    const file = manifest.output[0]?.url as string;
    expect(await download(quick, file)).toHaveLength(20);
    expect((await quick.call(pathOf(quick, status), { method: 'DELETE' })).status).toBe(202);
    expect((await quick.call(pathOf(quick, file))).status).toBe(404);
    expect((await quick.call(pathOf(quick, status))).status).toBe(404);
  });

  it('expires files after BULK_EXPORT_TTL_HOURS: manifest says Expires, then status and files are 404', async () => {
    const status = await kickoff(quick, '/fhir/$export?_type=Patient');
    const manifest = await waitForManifest(quick, status);
    const res = await quick.call(pathOf(quick, status));
    const expires = Date.parse(res.headers.get('expires') ?? '');
    expect(expires).toBeGreaterThan(Date.now() - 1000);
    expect(expires).toBeLessThan(Date.now() + 5000);
    const file = manifest.output[0]?.url as string;
    expect(await download(quick, file)).toHaveLength(20);
    await sleep(Math.max(0, expires - Date.now()) + 1200);
    expect((await quick.call(pathOf(quick, file))).status).toBe(404);
    expect((await quick.call(pathOf(quick, status))).status).toBe(404);
  });

  it('refuses methods the status URL does not have', async () => {
    const res = await quick.call('/fhir/bulkstatus/00000000-0000-0000-0000-000000000000', {
      method: 'PUT',
      body: '{}',
      headers: ASYNC,
    });
    expect(res.status).toBe(405);
  });
});
