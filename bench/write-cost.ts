/**
 * Where the time of one FHIR create goes, step by step, measured in-process (no HTTP): JSON parse,
 * base validation, required-binding check, search-index extraction, serialisation, and the durable
 * single-statement write. Run: node bench/write-cost.ts  (DATABASE_URL=… for PostgreSQL).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateResource } from '@medplum/core';
import { loadFhirDefinitions } from '../src/fhir/definitions.ts';
import { stamp } from '../src/fhir/interactions/write-version.ts';
import { checkRequiredBindings } from '../src/fhir/required-bindings.ts';
import { extractIndexRows } from '../src/fhir/search/index-values.ts';
import { openDb } from '../src/store/open-db.ts';
import { writeVersion } from '../src/store/resource-store.ts';
import { platelets } from './fixtures/observation.ts';

const N = Number(process.env.N ?? 5000);

function time(label: string, fn: (i: number) => void): number {
  for (let i = 0; i < 500; i++) fn(i); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const us = Number(process.hrtime.bigint() - start) / 1e3 / N;
  console.log(`${label.padEnd(34)} ${us.toFixed(1).padStart(8)} µs`);
  return us;
}

loadFhirDefinitions();
const texts = Array.from({ length: N }, (_, i) => JSON.stringify(platelets(i)));
const objs = texts.map((t) => JSON.parse(t));
console.log(`per Observation (${(texts[0]?.length ?? 0) / 1000} KB), ${N} iterations`);
time('JSON.parse', (i) => JSON.parse(texts[i % N] as string));
time('validateResource (base R4)', (i) => validateResource(objs[i % N]));
time('required bindings', (i) => checkRequiredBindings(objs[i % N]));
time('search index extraction', (i) => extractIndexRows(objs[i % N], 'http://x/fhir'));
time('stamp + JSON.stringify', (i) => JSON.stringify(stamp(objs[i % N], 'x', 1, '2021-01-01T00:00:00.000Z')));

const dataDir = mkdtempSync(join(tmpdir(), 'bench-write-cost-'));
const schema = process.env.DATABASE_URL ? `bench_${Date.now()}` : undefined;
const db = await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir, schema });
const rows = objs.map((o) => extractIndexRows(o, 'http://x/fhir'));
const start = process.hrtime.bigint();
const M = Math.min(N, 3000);
for (let i = 0; i < M; i++) {
  const id = randomUUID();
  await writeVersion(
    db,
    {
      resourceType: 'Observation',
      id,
      versionId: 1,
      lastUpdated: new Date().toISOString(),
      method: 'POST',
      content: texts[i] as string,
      index: rows[i],
    },
    true,
  );
}
const sqlUs = Number(process.hrtime.bigint() - start) / 1e3 / M;
console.log(`${`durable write, 1 client (${db.backend})`.padEnd(34)} ${sqlUs.toFixed(1).padStart(8)} µs`);
if (schema) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
await db.close();
rmSync(dataDir, { recursive: true, force: true });
