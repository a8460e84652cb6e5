/**
 * An export of 100,000 resources streams in constant memory: the rows are seeded with set-based SQL
 * (test/support/bulk-seed.ts), exported by the in-process worker in keyset batches, and downloaded
 * through the file endpoint chunk by chunk, while the process's memory is sampled. Live heap is
 * measured after a forced garbage collection (garbage from finished batches is not memory the
 * export holds); peak RSS is reported as seen.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedObservations } from '../../support/bulk-seed.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';
import { kickoff, pathOf, waitForManifest } from './bulk-helpers.ts';

const N = 100_000;
const MB = 1024 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

describe('$export of 100,000 resources in constant memory', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ BULK_EXPORT_MIN_POLL_MS: '100' });
    await seedObservations(s.testDb.db, { prefix: 'mem', count: N, patients: 500 });
    // PGlite runs in this thread: let keep-alive timers fire before reusing pooled connections.
    await new Promise((r) => setTimeout(r, 500));
  }, 300_000);
  afterAll(async () => {
    await s.stop();
  });

  it('keeps the heap flat while exporting and serving ~100 MB of NDJSON', async () => {
    gc();
    const base = process.memoryUsage();
    let peakHeap = base.heapUsed;
    let peakRss = base.rss;
    let samples = 0;
    const rss = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 10);
    const sample = () => {
      gc();
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      samples++;
    };
    // On a time basis while exporting, and every 8 MB while downloading: a fast machine finishes
    // before a timer would have sampled often enough.
    const sampler = setInterval(sample, 100);
    const started = Date.now();
    const status = await kickoff(s, '/fhir/$export?_type=Observation');
    const manifest = await waitForManifest(s, status, 'admin', 280_000, 250);
    const exportMs = Date.now() - started;
    expect(manifest.output).toHaveLength(1);
    expect(manifest.output[0]?.count).toBe(N);

    // Download without keeping the body: count lines and bytes as they stream in.
    const res = await s.call(pathOf(s, manifest.output[0]?.url as string));
    expect(res.status).toBe(200);
    let bytes = 0;
    let lines = 0;
    let tail = '';
    const decoder = new TextDecoder();
    let nextSampleAt = 8 * MB;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      if (bytes >= nextSampleAt) {
        sample();
        nextSampleAt += 8 * MB;
      }
      const text = tail + decoder.decode(chunk, { stream: true });
      const parts = text.split('\n');
      tail = parts.pop() ?? '';
      lines += parts.length;
      if (lines === 1) expect(JSON.parse(parts[0] as string).resourceType).toBe('Observation');
    }
    clearInterval(sampler);
    clearInterval(rss);
    expect(samples).toBeGreaterThan(3);
    expect(tail).toBe('');
    expect(lines).toBe(N);
    expect(bytes).toBeGreaterThan(70 * MB);
    const heapGrowth = (peakHeap - base.heapUsed) / MB;
    const rssGrowth = (peakRss - base.rss) / MB;
    console.log(
      `[bulk-memory] ${N} resources, ${samples} samples, ${(bytes / MB).toFixed(1)} MB NDJSON; export ${exportMs} ms; ` +
        `peak live heap +${heapGrowth.toFixed(1)} MB, peak RSS +${rssGrowth.toFixed(1)} MB (${s.testDb.db.backend})`,
    );
    // Holding the export (or one file) in memory would take the whole file (~100 MB); one batch
    // window and one chunk in flight take a few MB.
    expect(heapGrowth).toBeLessThan(32);
  }, 300_000);
});
