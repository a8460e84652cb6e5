/**
 * A hospital-wide feed through the ingest gate, as the EHR feed role sends it, with 1% of the
 * feed's patients enrolled:
 *  - not-retained results inside 1,000-entry batch Bundles (the gate's per-result cost),
 *  - the hospital mix (1% enrolled) inside 1,000-entry batch Bundles,
 *  - retained results inside 100-entry transaction Bundles, and as single POSTs from 32 clients:
 *    flat out, then offered at 1,000/s (the target rate) to read the latency a feed sees there.
 * Every acknowledged retained result is committed before its response.
 *   node bench/ingest-feed.ts            DATABASE_URL=postgres://… node bench/ingest-feed.ts
 */
import { writeFileSync } from 'node:fs';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import autocannon from 'autocannon';
import { platelets } from './fixtures/observation.ts';
import { startBenchService } from './support/bench-service.ts';
import { perItem, startCpuMeter } from './support/cpu-meter.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
/**
 * BENCH_PHASES=single (comma-separated: not-retained, mixed, bundles, single, single-paced) runs
 * only those;
 * BENCH_BUNDLES sets how many 100-entry transactions the bundles phase sends (60), from
 * BENCH_BUNDLE_CLIENTS concurrent senders (4).
 */
const ALL_PHASES = ['not-retained', 'mixed', 'bundles', 'single', 'single-paced'];
const PHASES = new Set((process.env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(','));
/** BENCH_SINGLE_RATE: the offered rate of the paced single-POST phase (1,000/s, the target). */
const SINGLE_RATE = Number(process.env.BENCH_SINGLE_RATE ?? 1000);
const skipped = { skipped: true } as const;
const PATIENTS = 1000;
const ENROLLED = PATIENTS / 100;
const patientId = (i: number): string => `feed-${i}`;
const isEnrolled = (i: number): boolean => i % 100 === 0;

// Ingest alone: outcome recomputation is measured by bench/outcomes-recompute.ts. Here its
// worker would recompute 10 subjects with tens of thousands of results each, many times over.
const svc = await startBenchService({ OUTCOMES_WORKER: process.env.OUTCOMES_WORKER ?? 'off' });
const admin = svc.token;
const feed = await svc.tokenFor('ehr-feed');

async function post(path: string, token: string, body: unknown, prefer?: string): Promise<Response> {
  return fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/fhir+json',
      ...(prefer ? { prefer } : {}),
    },
    body: JSON.stringify(body),
  });
}

function bundle(type: 'batch' | 'transaction', observations: Observation[]): Bundle {
  return {
    resourceType: 'Bundle',
    type,
    entry: observations.map((o) => ({ resource: o, request: { method: 'POST', url: 'Observation' } })),
  };
}

/** Sends `count` Bundles from `clients` concurrent senders; returns results/s and per-Bundle latencies. */
async function bundleLoad(make: (n: number) => Bundle, count: number, clients: number) {
  const latencies: number[] = [];
  let next = 0;
  let results = 0;
  const cpu = startCpuMeter(svc.pid);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const b = make(next++);
        const t0 = performance.now();
        const res = await post('/fhir', feed, b, 'return=minimal');
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`bundle failed: ${res.status}`);
        latencies.push(performance.now() - t0);
        results += b.entry?.length ?? 0;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const used = cpu();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0);
  return {
    resultsPerSecond: Math.round(results / seconds),
    perResultMicroseconds: Number(((seconds * 1e6) / results).toFixed(1)),
    bundleP50ms: pct(0.5),
    bundleP99ms: pct(0.99),
    ...perItem(used, results),
  };
}

try {
  for (let i = 0; i < PATIENTS; i += 100) {
    const r = await post('/fhir/ResearchSubject', admin, {
      resourceType: 'ResearchSubject',
      status: 'on-study',
      study: { reference: 'ResearchStudy/nct04775173' },
      individual: { reference: `Patient/${patientId(i)}` },
      assignedArm: 'low-dose',
      period: { start: '2021-03-01' },
    });
    if (r.status !== 201) throw new Error(`enrollment failed: ${r.status}`);
  }
  let seq = 0;
  const result = (patient: number): Observation => platelets(seq++, patientId(patient));
  /** The k-th patient of the feed who is not enrolled. */
  const notEnrolled = (k: number): number => {
    const i = k % PATIENTS;
    return isEnrolled(i) ? i + 1 : i;
  };

  // Warm-up.
  await bundleLoad(
    (n) =>
      bundle(
        'batch',
        Array.from({ length: 1000 }, (_, i) => result(notEnrolled(n * 1000 + i))),
      ),
    5,
    2,
  );

  const notRetained = !PHASES.has('not-retained')
    ? skipped
    : await bundleLoad(
        (n) =>
          bundle(
            'batch',
            Array.from({ length: 1000 }, (_, i) => result(notEnrolled(n * 1000 + i))),
          ),
        40,
        4,
      );
  const mixed = !PHASES.has('mixed')
    ? skipped
    : await bundleLoad(
        (n) =>
          bundle(
            'batch',
            Array.from({ length: 1000 }, (_, i) => result((n * 1000 + i) % PATIENTS)),
          ),
        20,
        4,
      );
  const retainedBundles = !PHASES.has('bundles')
    ? skipped
    : await bundleLoad(
        (n) =>
          bundle(
            'transaction',
            Array.from({ length: 100 }, (_, i) => result(((n * 100 + i) % ENROLLED) * 100)),
          ),
        Number(process.env.BENCH_BUNDLES ?? 60),
        Number(process.env.BENCH_BUNDLE_CLIENTS ?? 4),
      );
  // Every request a new result (its own identifier), for an enrolled patient.
  const template = JSON.stringify(result(0));
  let n = 0;
  /**
   * Single POSTs from 32 connections for `seconds`: flat out (closed loop: each connection sends
   * its next result when the last is answered), or offered at `rate` per second in all, where
   * autocannon corrects latencies for coordinated omission (a late send counts from when it was due).
   */
  const singleLoad = async (seconds: number, rate?: number) => {
    const cpu = startCpuMeter(svc.pid);
    const run = await autocannon({
      url: `${svc.url}/fhir/Observation`,
      method: 'POST',
      connections: 32,
      duration: seconds,
      ...(rate ? { overallRate: rate } : {}),
      headers: { authorization: `Bearer ${feed}`, 'content-type': 'application/fhir+json' },
      setupClient: (client) => {
        client.setBody(template);
      },
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            body: template.replace('"LAB-', `"SINGLE-${n++}-`).replace('feed-0', `feed-${(n % ENROLLED) * 100}`),
          }),
        },
      ],
    });
    return {
      resultsPerSecond: Math.round(run.requests.average),
      p50ms: run.latency.p50,
      p90ms: run.latency.p90,
      p97_5ms: run.latency.p97_5,
      p99ms: run.latency.p99,
      maxMs: run.latency.max,
      non2xx: run.non2xx,
      errors: run.errors,
      ...perItem(cpu(), run.requests.total),
    };
  };
  // The single-POST path (its own code: one group commit for concurrent requests) gets its own
  // warm-up, so the first seconds of JIT compilation and pool connections are not in the figures.
  if (PHASES.has('single') || PHASES.has('single-paced')) await singleLoad(3);
  const single = PHASES.has('single') ? await singleLoad(DURATION) : skipped;
  // The target as a hospital feed would load it: 1,000 results/s offered over 32 connections.
  const singlePaced = PHASES.has('single-paced') ? await singleLoad(DURATION, SINGLE_RATE) : skipped;
  const report = {
    backend: svc.backend,
    patients: PATIENTS,
    enrolled: ENROLLED,
    notRetainedIn1000EntryBatches: notRetained,
    hospitalMix1PercentIn1000EntryBatches: mixed,
    retainedIn100EntryTransactions: retainedBundles,
    retainedSinglePosts32Clients: single,
    [`retainedSinglePosts32ClientsAt${SINGLE_RATE}PerSecond`]: singlePaced,
    peakRssMb: svc.peakRssMb(),
  };
  console.log(JSON.stringify(report, null, 2));
  // Only a full run replaces the recorded figures.
  if (ALL_PHASES.every((p) => PHASES.has(p)))
    writeFileSync(
      new URL(`./results/ingest-feed-${svc.backend}.json`, import.meta.url),
      `${JSON.stringify(report, null, 2)}\n`,
    );
} finally {
  await svc.stop();
}
