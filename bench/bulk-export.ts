/**
 * $export throughput: resources/s and MB/s for exports of 100,000 and 1,000,000 Observations
 * (about 1 KB each, seeded with set-based SQL), from kick-off to manifest, then the download of
 * the file. The service runs in this process (seeding needs the store; PGlite allows one owner), so
 * peak RSS is the whole process's.
 *   node bench/bulk-export.ts                                  # PGlite, 100,000
 *   DATABASE_URL=postgres://… node bench/bulk-export.ts       # PostgreSQL, 100,000 and 1,000,000
 *   BULK_SIZES=100000 node bench/bulk-export.ts               # choose sizes
 * Prints a table and writes bench/results/bulk-export-<backend>.json.
 */
import { writeFileSync } from 'node:fs';
import type { ExportManifest } from '../src/fhir/bulk/manifest.ts';
import { seedObservations } from '../test/support/bulk-seed.ts';
import { startTestService } from '../test/support/test-service.ts';

const backend = process.env.DATABASE_URL ? 'postgresql' : 'pglite';
const sizes = (process.env.BULK_SIZES ?? (backend === 'postgresql' ? '100000,1000000' : '100000'))
  .split(',')
  .map(Number);
const MB = 1024 * 1024;

interface Row {
  resources: number;
  seedSeconds: number;
  exportSeconds: number;
  resourcesPerSecond: number;
  exportMBPerSecond: number;
  fileMB: number;
  downloadSeconds: number;
  downloadMBPerSecond: number;
  peakRssMb: number;
}

async function run(n: number): Promise<Row> {
  const s = await startTestService({ BULK_EXPORT_MIN_POLL_MS: '100', LOG_LEVEL: 'silent' });
  try {
    let t = performance.now();
    await seedObservations(s.testDb.db, { prefix: 'bench', count: n, patients: 1000 });
    const seedSeconds = (performance.now() - t) / 1000;
    // PGlite runs in this thread: let keep-alive timers fire before reusing pooled connections.
    await new Promise((r) => setTimeout(r, 500));
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    t = performance.now();
    const kick = await s.call('/fhir/$export?_type=Observation', { headers: { prefer: 'respond-async' } });
    if (kick.status !== 202) throw new Error(`kick-off: ${kick.status}`);
    const status = (kick.headers.get('content-location') as string).slice(s.url.length);
    let manifest: ExportManifest | undefined;
    while (!manifest) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await s.call(status);
      if (res.status === 200) manifest = (await res.json()) as ExportManifest;
      else await res.arrayBuffer();
    }
    const exportSeconds = (performance.now() - t) / 1000;
    if (manifest.output[0]?.count !== n) throw new Error(`exported ${manifest.output[0]?.count}, expected ${n}`);
    t = performance.now();
    const fileUrl = manifest.output[0]?.url ?? '';
    const file = await s.call(fileUrl.slice(s.url.length));
    let bytes = 0;
    for await (const chunk of file.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
    const downloadSeconds = (performance.now() - t) / 1000;
    clearInterval(sampler);
    return {
      resources: n,
      seedSeconds: round(seedSeconds),
      exportSeconds: round(exportSeconds),
      resourcesPerSecond: Math.round(n / exportSeconds),
      exportMBPerSecond: round(bytes / MB / exportSeconds),
      fileMB: round(bytes / MB),
      downloadSeconds: round(downloadSeconds),
      downloadMBPerSecond: round(bytes / MB / downloadSeconds),
      peakRssMb: Math.round(peakRss / MB),
    };
  } finally {
    await s.stop();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

const rows: Row[] = [];
for (const n of sizes) rows.push(await run(n));
console.log(`\n$export of Observations on ${backend} (batch 1,000, chunks in the database)`);
console.log('| resources | export s | resources/s | MB/s | file MB | download MB/s | peak RSS MB |');
console.log('|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.resources} | ${r.exportSeconds} | ${r.resourcesPerSecond} | ${r.exportMBPerSecond} | ${r.fileMB} | ${r.downloadMBPerSecond} | ${r.peakRssMb} |`,
  );
}
writeFileSync(
  new URL(`./results/bulk-export-${backend}.json`, import.meta.url),
  `${JSON.stringify({ backend, node: process.version, rows }, null, 2)}\n`,
);
