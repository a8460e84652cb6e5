/**
 * Write-back throughput: outcome Observations queued in the outbox (100 per transaction, as the
 * outcomes engine would) and delivered by the worker as conditional updates, first creates, then
 * updates of every one, to two upstreams in their own process: a real FHIR server (fhir-router +
 * MemoryRepository, whose conditional update scans every stored resource, so fewer items) and a
 * Map-backed stub that measures the adapter's side alone.
 *   node bench/writeback.ts                       # PGlite (in memory)
 *   DATABASE_URL=postgres://… node bench/writeback.ts
 * Prints a table and writes bench/results/writeback-<backend>.json.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Bundle } from '@medplum/fhirtypes';
import pg from 'pg';
import { createLogger } from '../src/shared/logger.ts';
import type { Db } from '../src/store/db.ts';
import { openDb } from '../src/store/open-db.ts';
import { listOutbox, outboxStats } from '../src/store/outbox-store.ts';
import { enqueueOutbox, type OutboxItem } from '../src/writeback/outbox.ts';
import { OutboxWorker } from '../src/writeback/outbox-worker.ts';
import { createTokenSource } from '../src/writeback/upstream-auth.ts';
import { UpstreamClient } from '../src/writeback/upstream-client.ts';
import { platelets } from './fixtures/observation.ts';
import { spawnUpstream } from './support/upstream-process.ts';

const N_STUB = Number(process.env.BENCH_ITEMS ?? 5000);
const N_ROUTER = Number(process.env.BENCH_ROUTER_ITEMS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const SYSTEM = 'https://khe-trial.example.org/fhir/sid/outcome';

function items(n: number, version: number): OutboxItem[] {
  return Array.from({ length: n }, (_, i) => {
    const resource = platelets(i, `bench-${i % 200}`);
    resource.identifier = [{ system: SYSTEM, value: `bench-outcome-${i}` }];
    if (resource.valueQuantity) resource.valueQuantity.value = 100 + version;
    return {
      resourceType: 'Observation',
      id: `bench-outcome-${i}`,
      versionId: version,
      identifier: { system: SYSTEM, value: `bench-outcome-${i}` },
      operation: 'upsert',
      resource,
    };
  });
}

async function enqueueAll(db: Db, all: OutboxItem[]): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < all.length; i += 100) {
    await db.transaction((tx) => enqueueOutbox(tx, all.slice(i, i + 100)));
  }
  return performance.now() - start;
}

async function deliverAll(db: Db, worker: OutboxWorker): Promise<{ ms: number; delivered: number; retries: number }> {
  const start = performance.now();
  let delivered = 0;
  let retries = 0;
  for (;;) {
    const r = await worker.drain(undefined, 600_000);
    delivered += r.delivered;
    retries += r.retrying;
    if (r.dead > 0) throw new Error(`dead letters: ${JSON.stringify(await listOutbox(db, 'dead', 3))}`);
    if (r.claimed > 0) continue;
    if ((await outboxStats(db)).pending === 0) break;
    // A retry is waiting for its backoff.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ms: performance.now() - start, delivered, retries };
}

interface Scenario {
  upstream: 'fhir-router' | 'stub';
  items: number;
  enqueuePerSecond: number;
  createsPerSecond: number;
  updatesPerSecond: number;
  retries: number;
  upstreamResources: number | undefined;
}

const databaseUrl = process.env.DATABASE_URL;

async function scenario(kind: 'fhir-router' | 'stub', n: number): Promise<{ backend: string; result: Scenario }> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const db = databaseUrl
    ? await openDb({ databaseUrl, dataDir: '', schema, poolSize: 16 })
    : await openDb({ dataDir: '', pgliteInMemory: true });
  const up = await spawnUpstream(kind);
  try {
    const upstream = new UpstreamClient({
      fhirUrl: up.base,
      timeoutMs: 30_000,
      tokens: await createTokenSource({
        UPSTREAM_AUTH: 'bearer',
        UPSTREAM_BEARER_TOKEN: up.token,
        UPSTREAM_KEY_ALG: 'RS384',
        UPSTREAM_SCOPE: 'system/Observation.cu',
      }),
    });
    const worker = new OutboxWorker({
      db,
      upstream,
      logger: createLogger('warn'),
      maxAgeMs: 3_600_000,
      backoff: { baseMs: 1000, maxMs: 60_000 },
      batchSize: 100,
      concurrency: CONCURRENCY,
      leaseMs: 120_000,
    });
    const enqueueMs = await enqueueAll(db, items(n, 1));
    const creates = await deliverAll(db, worker);
    const enqueue2Ms = await enqueueAll(db, items(n, 2));
    const updates = await deliverAll(db, worker);
    const count = (await upstream.get<Bundle>('Observation?_summary=count')).total;
    if (count !== n || creates.delivered !== n || updates.delivered !== n) {
      throw new Error(
        `expected ${n} upstream resources and deliveries, got ${count}, ${creates.delivered}, ${updates.delivered}`,
      );
    }
    const perSecond = (x: number, ms: number) => Math.round((x / ms) * 1000);
    return {
      backend: db.backend,
      result: {
        upstream: kind,
        items: n,
        enqueuePerSecond: perSecond(n, (enqueueMs + enqueue2Ms) / 2),
        createsPerSecond: perSecond(n, creates.ms),
        updatesPerSecond: perSecond(n, updates.ms),
        retries: creates.retries + updates.retries,
        upstreamResources: count,
      },
    };
  } finally {
    await up.stop();
    await db.close();
    if (databaseUrl) {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
}

const stub = await scenario('stub', N_STUB);
const router = await scenario('fhir-router', N_ROUTER);
const report = {
  backend: stub.backend,
  node: process.version,
  concurrency: CONCURRENCY,
  scenarios: [stub.result, router.result],
};
console.log(`\nWrite-back on ${report.backend}, ${CONCURRENCY} requests in flight (items per second)`);
console.log(
  '| upstream | items | enqueue (100/tx) | deliver creates (PUT → 201) | deliver updates (PUT → 200) | retries |',
);
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of report.scenarios) {
  console.log(
    `| ${r.upstream} | ${r.items} | ${r.enqueuePerSecond} | ${r.createsPerSecond} | ${r.updatesPerSecond} | ${r.retries} |`,
  );
}
writeFileSync(
  new URL(`./results/writeback-${report.backend}.json`, import.meta.url),
  `${JSON.stringify(report, null, 2)}\n`,
);
