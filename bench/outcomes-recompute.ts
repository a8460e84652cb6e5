/**
 * Time to recompute every outcome for N subjects (the synthetic cohort generator, about 32 results
 * per child), and for one subject after one new result (incremental: only the marked subject, plus
 * the per-arm MeasureReports). The cohort is pushed through the feed over HTTP first, as an EHR
 * would; recomputation runs in process with the background worker off, so it is timed alone.
 *   node bench/outcomes-recompute.ts 30 10000     DATABASE_URL=postgres://… node bench/outcomes-recompute.ts 30 10000
 * PROFILE_STATEMENTS=1 (PostgreSQL): statements per kind of each phase, on stderr.
 * PG_STATS=1 (PostgreSQL): checkpoints, WAL and full-page images, block reads and hits, and the
 *   schema's table and index sizes before and after the first computation, and its progress every
 *   15 s (bench/support/pg-server-stats.ts).
 * CPU_PROFILE=<file.cpuprofile>: a V8 CPU profile of this process during the first computation.
 * KEEP_SCHEMA=1 (PostgreSQL): the schema is kept at the end (for EXPLAIN), its name on stderr.
 * KEEP_STORE=1 (PGlite): the data folder is kept at the end (to try maintenance on), its path on stderr.
 * OUTCOMES_PGLITE_BATCH_MS: the service's setting of that name (PGlite batches' target time).
 * TRACE_SLOW_READS=1: under each slow read on stderr, the transactions, statements and event-loop
 *   stalls that overlapped it (bench/support/store-trace.ts).
 * Run node with --expose-gc to report the heap used after a full collection at the end of each
 * phase (the service's need, apart from what the bench's own HTTP feed left to collect).
 * On PGlite the store is a data folder on disk, as `npm start` has it (bench/support/bench-db.ts);
 * the row gives its size and the peak of memory held outside the JavaScript heap.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Bundle } from '@medplum/fhirtypes';
import { readCheckpointState } from '../src/jobs/embedded-checkpoint.ts';
import { feedBundle, observationOf, syntheticCohort } from '../test/support/synthetic-cohort.ts';
import { startTestService } from '../test/support/test-service.ts';
import { openBenchDb } from './support/bench-db.ts';
import { startCpuMeter } from './support/cpu-meter.ts';
import { progressSampler, serverStats, statsDelta } from './support/pg-server-stats.ts';
import { startReadProbe } from './support/read-probe.ts';
import { installStatementProfile, takeStatementProfile } from './support/statement-profile.ts';
import { traceStore } from './support/store-trace.ts';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const backend = process.env.DATABASE_URL ? 'postgresql' : 'pglite';
const results: Record<string, unknown>[] = [];
// PROFILE_STATEMENTS=1 (PostgreSQL): statement counts and time per kind of each phase, on stderr.
const profiling = process.env.PROFILE_STATEMENTS === '1' && backend === 'postgresql';
if (profiling) installStatementProfile();
function profile(phase: string): void {
  if (!profiling) return;
  const p = takeStatementProfile();
  console.error(`-- ${phase}: ${p.statements} statements, ${p.ms} ms waited`);
  for (const [kind, k] of p.kinds.slice(0, 25))
    console.error(`${String(k.count).padStart(8)} ${String(k.ms).padStart(8)} ms  ${kind}`);
}

const profilingServer = backend === 'postgresql';
const round1 = (x: number): number => Math.round(x * 10) / 10;
const mb = (bytes: number | undefined): number | undefined =>
  bytes === undefined ? undefined : Math.round(bytes / 1048576);
const pgStats = process.env.PG_STATS === '1' && backend === 'postgresql';
const cpuProfile = process.env.CPU_PROFILE;
const keepSchema = process.env.KEEP_SCHEMA === '1' && backend === 'postgresql';
const keepStore = process.env.KEEP_STORE === '1' && backend === 'pglite';
const batchOverride = process.env.OUTCOME_BATCH ? Number(process.env.OUTCOME_BATCH) : undefined;

/** Heap used after a full collection (MB), when node runs with --expose-gc. */
function heapAfterGc(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  gc();
  gc();
  return Math.round(process.memoryUsage().heapUsed / 1048576);
}

async function run(n: number): Promise<void> {
  // A long run outlives the default token lifetime; the bench client keeps one token.
  const benchDb = await openBenchDb();
  const s = await startTestService(
    {
      OUTCOMES_WORKER: 'off',
      RATE_LIMIT_PER_MINUTE: '100000000',
      ACCESS_TOKEN_LIFETIME_SECONDS: '3600',
      // How long a PGlite batch may take (the service's default unless set).
      ...(process.env.OUTCOMES_PGLITE_BATCH_MS
        ? { OUTCOMES_PGLITE_BATCH_MS: process.env.OUTCOMES_PGLITE_BATCH_MS }
        : {}),
    },
    { testDb: benchDb },
  );
  const cohort = syntheticCohort(n);
  const j = JSON.stringify;
  // Enrollment in batches of 100 subjects (one transaction each), as a coordinator's import would.
  for (let i = 0; i < cohort.length; i += 100) {
    const entry = cohort.slice(i, i + 100).flatMap((c) => [
      {
        resource: {
          resourceType: 'Patient',
          id: c.patientId,
          birthDate: c.birthDate,
          identifier: [{ system: 'urn:synthetic:mrn', value: c.mrn }],
        },
        request: { method: 'PUT', url: `Patient/${c.patientId}` },
      },
      {
        resource: {
          resourceType: 'ResearchSubject',
          status: 'on-study',
          study: { reference: 'ResearchStudy/nct04775173' },
          individual: { reference: `Patient/${c.patientId}` },
          assignedArm: c.arm,
          period: { start: c.start },
        },
        request: { method: 'POST', url: 'ResearchSubject' },
      },
    ]);
    const r = await s.call('/fhir', {
      method: 'POST',
      body: j({ resourceType: 'Bundle', type: 'transaction', entry }),
    });
    if (r.status !== 200) throw new Error(`enroll: ${r.status} ${await r.text()}`);
  }
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= cohort.length) return;
      const r = await s.call('/fhir', {
        method: 'POST',
        role: 'ehr-feed',
        body: j(feedBundle(cohort[i] as (typeof cohort)[number])),
      });
      if (r.status !== 200) throw new Error(`feed: ${r.status} ${await r.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const results_ = cohort.reduce((a, c) => a + c.values.length, 0);
  const feedMs = performance.now() - t0;

  // First computation: every subject was marked by its results. Peak RSS is sampled throughout
  // both passes (a figure taken only before and after misses what a batch holds while it runs).
  let peakRss = process.memoryUsage().rss;
  // Memory outside the JavaScript heap (buffers, WebAssembly memory is in neither): where an
  // in-memory store would show.
  let peakArrayBuffers = process.memoryUsage().arrayBuffers;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers);
  }, 100);
  // WAL written since the last checkpoint (its redo point): what a restart after a crash replays.
  const walSinceCheckpointMb = async (): Promise<number> =>
    Math.round((await readCheckpointState(benchDb.db)).walSince / 1048576);
  const storeMbAfterFeed = {
    store: mb(benchDb.storeBytes()),
    wal: mb(benchDb.walBytes()),
    sinceCheckpoint: await walSinceCheckpointMb(),
  };
  profile('feed');
  const heapAfterFeed = heapAfterGc();
  const databaseUrl = process.env.DATABASE_URL as string;
  const schema = s.testDb.schema as string;
  const stats0 = pgStats ? await serverStats(databaseUrl, schema) : undefined;
  const progress = pgStats ? progressSampler(databaseUrl, schema) : undefined;
  const session = cpuProfile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 1000 });
    await session.post('Profiler.start');
  }
  const cpu1 = startCpuMeter(process.pid);
  const t1 = performance.now();
  // A reader during the first computation: one FHIR read every 250 ms, each timed, from a thread of
  // its own (bench/support/read-probe.ts). On PGlite the service's statements wait for the
  // recomputation's open transaction to end, and its event loop for the batch's computation.
  const trace = process.env.TRACE_SLOW_READS === '1' ? traceStore(benchDb.db) : undefined;
  const probe = startReadProbe({
    url: `${s.fhir}/ResearchStudy/nct04775173`,
    token: await s.token('research'),
    everyMs: 250,
  });
  // A slow read, with when it was sent (ms into the first computation), on stderr.
  probe.onSlow(1000, (read, sentAt) => {
    console.error(`-- slow read: ${Math.round(read.took)} ms, sent at ${Math.round(sentAt - t1)} ms`);
    for (const line of trace?.explain(sentAt, sentAt + read.took) ?? []) console.error(line);
  });
  // OUTCOME_BATCH=n: marks per batch (default: the service's, 200 on PostgreSQL, 25 on PGlite).
  const first = await s.service.outcomes.drain(batchOverride);
  const firstMs = performance.now() - t1;
  const reads = await probe.stop();
  trace?.stop();
  const failedReads = reads.filter((r) => r.status !== 200).map((r) => r.status);
  if (failedReads.length > 0) console.error(`-- reads not answered 200: ${failedReads.join(', ')}`);
  const readLatencies = reads.map((r) => r.took).sort((x, y) => x - y);
  const firstCpu = cpu1();
  if (session && cpuProfile) {
    const { profile: p } = await session.post('Profiler.stop');
    writeFileSync(cpuProfile, JSON.stringify(p));
    session.disconnect();
  }
  const progressLines = progress ? await progress() : undefined;
  const firstStats = stats0 ? statsDelta(stats0, await serverStats(databaseUrl, schema)) : undefined;
  if (firstStats) console.error(`-- server, first computation: ${JSON.stringify(firstStats)}`);
  profile('first computation');
  const heapAfterFirst = heapAfterGc();
  // The service runs in this process: during a long computation the server's keep-alive timer
  // (5 s) and the client's can expire together, and a request written on a socket the server is
  // closing fails with ECONNRESET. Letting idle sockets close first avoids the race.
  await new Promise((r) => setTimeout(r, 6000));

  // Full recomputation on request (nothing changed: every value compared, nothing rewritten).
  const cpu2 = startCpuMeter(process.pid);
  const t2 = performance.now();
  const all = await s.call('/admin/outcomes/recompute?scope=all&wait=true', { method: 'POST' });
  const fullMs = performance.now() - t2;
  const fullCpu = cpu2();
  profile('full pass, nothing changed');
  const heapAfterFull = heapAfterGc();
  const full = (await all.json()) as { subjects: number; unchanged: number };
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);

  // One new result for one subject.
  const c = cohort[0] as (typeof cohort)[number];
  const v = {
    ...(c.values.find((x) => x.measure === 'sirolimus-trough') as (typeof c.values)[number]),
    id: 'SYN-NEW-1',
    day: 364,
    value: 30,
  };
  v.sent = { value: 30, unit: 'ng/mL' };
  const single: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{ resource: observationOf(c, v), request: { method: 'POST', url: 'Observation' } }],
  };
  await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: j(single) });
  const samples: number[] = [];
  const SAMPLES = 25;
  for (let k = 0; k < SAMPLES; k++) {
    if (k > 0) {
      const w = { ...v, id: `SYN-NEW-${k + 1}`, day: 364 - k, value: 30 + k };
      w.sent = { value: w.value, unit: 'ng/mL' };
      await s.call('/fhir', {
        method: 'POST',
        role: 'ehr-feed',
        body: j({
          ...single,
          entry: [{ resource: observationOf(c, w), request: { method: 'POST', url: 'Observation' } }],
        }),
      });
    }
    takeStatementProfile();
    const t3 = performance.now();
    const one = await s.service.outcomes.drain();
    samples.push(performance.now() - t3);
    if (k === SAMPLES - 1) profile('one subject after one result (last of the runs)');
    else takeStatementProfile();
    if (one.subjects !== 1) throw new Error(`expected one subject, got ${one.subjects}`);
  }
  samples.sort((a, b) => a - b);
  const row = {
    backend,
    subjects: n,
    results: results_,
    feedSeconds: Math.round(feedMs / 100) / 10,
    firstComputationSeconds: Math.round(firstMs / 100) / 10,
    firstComputationSubjectsPerSecond: Math.round((n / firstMs) * 1000),
    outcomeResourcesCreated: first.created,
    readDuringFirstComputationMs: {
      reads: readLatencies.length,
      p50: round1(readLatencies[Math.floor(readLatencies.length / 2)] ?? 0),
      max: round1(readLatencies[readLatencies.length - 1] ?? 0),
      overOneSecond: readLatencies.filter((x) => x > 1000).length,
      notAnswered200: failedReads.length,
    },
    // CPU seconds of this process (service and bench) and of the local PostgreSQL server.
    firstComputationCpuSeconds: {
      service: round1(firstCpu.service),
      postgres: profilingServer ? round1(firstCpu.postgres) : undefined,
    },
    fullRecomputationSeconds: Math.round(fullMs / 100) / 10,
    fullRecomputationUnchanged: full.unchanged,
    fullRecomputationCpuSeconds: {
      service: round1(fullCpu.service),
      postgres: profilingServer ? round1(fullCpu.postgres) : undefined,
    },
    oneSubjectAfterOneResultMsMedian: Math.round((samples[Math.floor(SAMPLES / 2)] as number) * 10) / 10,
    // Nearest rank: with 25 samples the 99th percentile is the largest.
    oneSubjectAfterOneResultMsP99: Math.round((samples[Math.ceil(0.99 * SAMPLES) - 1] as number) * 10) / 10,
    peakRssMbDuringCompute: Math.round(peakRss / 1048576),
    peakArrayBuffersMbDuringCompute: Math.round(peakArrayBuffers / 1048576),
    // The data folder and its WAL (the embedded-checkpoint job keeps the WAL near max_wal_size).
    pgliteStoreMb:
      backend === 'pglite'
        ? {
            afterFeed: storeMbAfterFeed,
            end: {
              store: mb(benchDb.storeBytes()),
              wal: mb(benchDb.walBytes()),
              sinceCheckpoint: await walSinceCheckpointMb(),
            },
          }
        : undefined,
    // With --expose-gc: heap used after a full collection at the end of each phase (MB).
    heapAfterGcMb:
      heapAfterFeed === undefined
        ? undefined
        : { feed: heapAfterFeed, firstComputation: heapAfterFirst, fullPass: heapAfterFull, oneSubject: heapAfterGc() },
    firstComputationServer: firstStats,
    firstComputationProgress: progressLines,
  };
  if (backend === 'pglite') {
    const job = (await s.service.jobs.states()).find((j) => j.name === 'embedded-checkpoint');
    console.error(`-- embedded-checkpoint: ${JSON.stringify(job)}`);
  }
  console.log(JSON.stringify(row));
  results.push(row);
  if (keepSchema) {
    // For EXPLAIN of the drain's statements at this size; drop it by hand afterwards.
    await s.service.stop();
    await s.testDb.db.close();
    console.error(`-- kept schema ${s.testDb.schema}: DROP SCHEMA ${s.testDb.schema} CASCADE when done`);
  } else if (keepStore) {
    await s.service.stop();
    await s.testDb.db.close();
    console.error(`-- kept store ${benchDb.dataDir}: remove it by hand when done`);
  } else await s.stop();
}

for (const n of sizes.length ? sizes : [30]) await run(n);
writeFileSync(`bench/results/outcomes-recompute-${backend}.json`, `${JSON.stringify(results, null, 2)}\n`);
