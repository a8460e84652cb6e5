/**
 * POST /fhir/Observation throughput and latency at 1 and 32 concurrent clients, and a 1,000-entry
 * transaction Bundle, against the service in its own process.
 *   node bench/fhir-write.ts                      # PGlite
 *   DATABASE_URL=postgres://… node bench/fhir-write.ts
 * Prints a table and writes bench/results/fhir-write-<backend>.json.
 */
import { writeFileSync } from 'node:fs';
import type { Bundle } from '@medplum/fhirtypes';
import autocannon from 'autocannon';
import { platelets } from './fixtures/observation.ts';
import { startBenchService } from './support/bench-service.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);

interface Cell {
  label: string;
  requestsPerSecond: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
}

let sent = 0;

async function load(url: string, token: string, connections: number, label: string): Promise<Cell> {
  // Every request a distinct result: Observation identifiers are unique in the store.
  const template = JSON.stringify(platelets(1));
  const result = await autocannon({
    url: `${url}/fhir/Observation`,
    method: 'POST',
    connections,
    duration: DURATION,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    setupClient: (client) => {
      client.setBody(template);
    },
    requests: [{ setupRequest: (req) => ({ ...req, body: template.replace('"LAB-1"', `"W-${sent++}"`) }) }],
  });
  return {
    label,
    requestsPerSecond: Math.round(result.requests.average),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

async function transactionTimes(url: string, token: string, entries: number, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: entries }, (_, i) => ({
        resource: platelets(r * entries + i),
        request: { method: 'POST' as const, url: 'Observation' },
      })),
    };
    const body = JSON.stringify(bundle);
    const start = performance.now();
    const res = await fetch(`${url}/fhir`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body,
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`transaction failed: ${res.status}`);
    times.push(performance.now() - start);
  }
  return times;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const svc = await startBenchService();
try {
  // Warm up JIT, pools and caches before measuring.
  await load(svc.url, svc.token, 8, 'warm-up');
  const cells = [await load(svc.url, svc.token, 1, '1 client'), await load(svc.url, svc.token, 32, '32 clients')];
  const tx = await transactionTimes(svc.url, svc.token, 1000, 5);
  const report = {
    backend: svc.backend,
    durationSeconds: DURATION,
    node: process.version,
    cells,
    transaction1000: { runsMs: tx.map((t) => Math.round(t)), medianMs: Math.round(median(tx)) },
    peakRssMb: svc.peakRssMb(),
  };
  console.log(`\nPOST /fhir/Observation on ${svc.backend} (${DURATION} s per cell)`);
  console.log('| clients | creates/s | p50 ms | p99 ms | errors | non-2xx |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const c of cells) {
    console.log(`| ${c.label} | ${c.requestsPerSecond} | ${c.p50ms} | ${c.p99ms} | ${c.errors} | ${c.non2xx} |`);
  }
  console.log(
    `1,000-entry transaction: median ${report.transaction1000.medianMs} ms (runs ${report.transaction1000.runsMs.join(', ')})`,
  );
  console.log(`service peak RSS: ${report.peakRssMb} MB`);
  writeFileSync(
    new URL(`./results/fhir-write-${svc.backend}.json`, import.meta.url),
    `${JSON.stringify(report, null, 2)}\n`,
  );
} finally {
  await svc.stop();
}
