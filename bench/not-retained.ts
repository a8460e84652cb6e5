/**
 * The feed's common case: a single POST /fhir/Observation for a patient who is not enrolled
 * (answered 202, nothing stored), from 32 connections flat out, against a bare express 5 app that
 * parses the same JSON and answers 202 (bench/support/bare-express.ts, its own process) in the
 * same run. Rounds alternate bare and adapter so both see the same state of the machine; each
 * target gets a warm-up first. Reports req/s, p50/p99 and the ratio to bare express.
 *   node bench/not-retained.ts            DATABASE_URL=postgres://… node bench/not-retained.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { platelets } from './fixtures/observation.ts';
import { startBenchService } from './support/bench-service.ts';
import { perItem, startCpuMeter } from './support/cpu-meter.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = 32;

async function startBare(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(join(import.meta.dirname, '..', 'node_modules', '.bin', 'node'), [
    join(import.meta.dirname, 'support', 'bare-express.ts'),
  ]);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"url":"([^"]+)"/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`bare express exited (${code}): ${out}`)));
  });
  return { url, child };
}

const svc = await startBenchService({ OUTCOMES_WORKER: 'off' });
const bare = await startBare();
const feed = await svc.tokenFor('ehr-feed');
// The adapter's answer depends on who is enrolled: ten enrolled children, none of them the sender's.
for (let i = 0; i < 10; i++) {
  const r = await fetch(`${svc.url}/fhir/ResearchSubject`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'ResearchSubject',
      status: 'on-study',
      study: { reference: 'ResearchStudy/nct04775173' },
      individual: { reference: `Patient/enrolled-${i}` },
      assignedArm: 'low-dose',
      period: { start: '2021-03-01' },
    }),
  });
  if (r.status !== 201) throw new Error(`enrollment failed: ${r.status}`);
}
const body = JSON.stringify(platelets(1, 'not-enrolled-1'));

async function load(url: string, seconds: number, pid?: number) {
  const cpu = pid === undefined ? undefined : startCpuMeter(pid);
  const run = await autocannon({
    url: `${url}/fhir/Observation`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${feed}`, 'content-type': 'application/fhir+json' },
    body,
  });
  const statuses = run['2xx'] === run.requests.total ? undefined : { non2xx: run.non2xx, errors: run.errors };
  return {
    requestsPerSecond: Math.round(run.requests.average),
    p50ms: run.latency.p50,
    p99ms: run.latency.p99,
    maxMs: run.latency.max,
    ...(statuses ?? {}),
    ...(cpu ? perItem(cpu(), run.requests.total) : {}),
  };
}

try {
  await load(bare.url, 3);
  await load(svc.url, 3);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const bareRun = await load(bare.url, DURATION);
    const adapter = await load(svc.url, DURATION, svc.pid);
    rounds.push({
      bareExpress: bareRun,
      adapter,
      ratio: Number((adapter.requestsPerSecond / bareRun.requestsPerSecond).toFixed(2)),
    });
  }
  const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b);
  const report = {
    backend: svc.backend,
    connections: CONNECTIONS,
    seconds: DURATION,
    rounds,
    medianRatio: ratios[Math.floor(ratios.length / 2)],
    peakRssMb: svc.peakRssMb(),
  };
  console.log(JSON.stringify(report, null, 2));
  writeFileSync(
    new URL(`./results/not-retained-${svc.backend}.json`, import.meta.url),
    `${JSON.stringify(report, null, 2)}\n`,
  );
} finally {
  bare.child.kill('SIGTERM');
  await svc.stop();
}
