/**
 * Pull throughput: enrolled subjects' results read from a real FHIR server (fhir-router +
 * MemoryRepository, own process) page by page and fed through the push path (routing, validation,
 * trial records, durable commit) by the service's pull, then a second, incremental pull.
 *   node bench/pull.ts                            # PGlite
 *   DATABASE_URL=postgres://… node bench/pull.ts
 * Prints a table and writes bench/results/pull-<backend>.json.
 * Fixtures WRITTEN FOR THE BENCHMARK: sirolimus troughs and platelet counts (no real patient data).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import pg from 'pg';
import { startService } from '../src/app/start.ts';
import { fetchToken, readDevClients } from '../test/support/test-service.ts';
import { spawnUpstream } from './support/upstream-process.ts';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 20);
const PER_SUBJECT = Number(process.env.BENCH_RESULTS ?? 100);
const PAGE = 100;

function result(patient: string, i: number): Observation {
  const trough = i % 2 === 0;
  const day = new Date(Date.parse('2022-01-11') + i * 86_400_000).toISOString().slice(0, 10);
  return {
    resourceType: 'Observation',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.9999.lab', value: `${patient}-${i}` }],
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: trough ? '29247-4' : '777-3' }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: `${day}T08:00:00+08:00`,
    valueQuantity: trough
      ? { value: 5 + (i % 10), unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' }
      : { value: 80 + (i % 50), unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
  };
}

const up = await spawnUpstream('fhir-router');
const headers = { authorization: `Bearer ${up.token}`, 'content-type': 'application/fhir+json' };
const patients: string[] = [];
for (let p = 0; p < SUBJECTS; p++) {
  const res = await fetch(`${up.base}/Patient`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ resourceType: 'Patient', birthDate: '2021-05-01' } satisfies Patient),
  });
  const id = ((await res.json()) as Patient).id as string;
  patients.push(id);
  const batch: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: Array.from({ length: PER_SUBJECT }, (_, i) => ({
      resource: result(id, i),
      request: { method: 'POST' as const, url: 'Observation' },
    })),
  };
  const b = await fetch(up.base, { method: 'POST', headers, body: JSON.stringify(batch) });
  if (b.status !== 200) throw new Error(`seeding failed: ${b.status}`);
}

const databaseUrl = process.env.DATABASE_URL;
const schema = `bench_${randomBytes(4).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'khe-bench-pull-'));
const off = Object.fromEntries(['outbox-delivery', 'upstream-pull', 'upstream-backfill'].map((j) => [j, 'off']));
const svc = await startService({
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  LOG_LEVEL: 'warn',
  UPSTREAM_FHIR_URL: up.base,
  UPSTREAM_AUTH: 'bearer',
  UPSTREAM_BEARER_TOKEN: up.token,
  UPSTREAM_PULL_PAGE_SIZE: String(PAGE),
  JOB_SCHEDULES: JSON.stringify(off),
  ...(databaseUrl ? { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema } : {}),
});
try {
  const admin = readDevClients(dataDir).find((c) => c.role === 'admin');
  if (!admin) throw new Error('no admin client');
  const token = await fetchToken(svc.url, admin);
  for (const id of patients) {
    const res = await fetch(`${svc.url}/fhir/ResearchSubject`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: `Patient/${id}` },
        assignedArm: 'low-dose',
        period: { start: '2022-01-10' },
      }),
    });
    if (res.status !== 201) throw new Error(`enrolment failed: ${res.status}`);
  }
  const pull = svc.upstream.pull;
  if (!pull) throw new Error('pull not wired');
  let t = performance.now();
  const first = await pull.pullAll();
  const firstMs = performance.now() - t;
  if (first.fed !== SUBJECTS * PER_SUBJECT || first.refused > 0 || first.errors.length > 0) {
    throw new Error(`unexpected first pull: ${JSON.stringify(first)}`);
  }
  t = performance.now();
  const second = await pull.pullAll();
  const secondMs = performance.now() - t;
  const report = {
    backend: svc.db.backend,
    node: process.version,
    subjects: SUBJECTS,
    resultsPerSubject: PER_SUBJECT,
    pageSize: PAGE,
    firstPull: {
      results: first.fed,
      pages: first.pages,
      ms: Math.round(firstMs),
      resultsPerSecond: Math.round((first.fed / firstMs) * 1000),
    },
    incrementalPull: {
      reRead: second.fed,
      pages: second.pages,
      ms: Math.round(secondMs),
      msPerSubject: Math.round((secondMs / SUBJECTS) * 10) / 10,
    },
  };
  console.log(`\nPull on ${report.backend}: ${SUBJECTS} subjects × ${PER_SUBJECT} results, pages of ${PAGE}`);
  console.log('| pull | results fed | pages | ms | results/s |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(
    `| first | ${first.fed} | ${first.pages} | ${report.firstPull.ms} | ${report.firstPull.resultsPerSecond} |`,
  );
  console.log(`| incremental (nothing new) | ${second.fed} | ${second.pages} | ${report.incrementalPull.ms} | – |`);
  writeFileSync(
    new URL(`./results/pull-${report.backend}.json`, import.meta.url),
    `${JSON.stringify(report, null, 2)}\n`,
  );
} finally {
  await svc.stop();
  await up.stop();
  rmSync(dataDir, { recursive: true, force: true });
  if (databaseUrl) {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}
