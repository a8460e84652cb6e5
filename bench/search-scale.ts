/**
 * Research searches at hospital scale, through the HTTP API: 1,000,000 Observations on PostgreSQL
 * (200,000 on PGlite) over 2,000 patients (500 each), seeded by set-based SQL in the shape the write
 * path gives them (test/support/bulk-seed.ts), then ANALYZE. For each search: the first page
 * (p50/p99 over SCALE_BENCH_REPS requests) and the pages after it, reached by following the Bundles'
 * next links (p50/p99 over every page read). A bare request (`/healthz`) gives the floor of one
 * round trip through the same server in the same run.
 *   node bench/search-scale.ts
 *   DATABASE_URL=postgres://… node bench/search-scale.ts
 *   SCALE_BENCH_EXPLAIN=1 …  also prints EXPLAIN (ANALYZE, BUFFERS) of every statement of one
 *                            request of each search
 *   SCALE_BENCH_SCHEMA=name … (PostgreSQL) seeds into that schema once and keeps it: a later run
 *                            with the same name and size reuses the rows (migrations still apply);
 *                            drop it by hand when done (DROP SCHEMA name CASCADE)
 *   SCALE_BENCH_ONLY=0,2 …   runs only those searches (indexes into the list below; 0 is /healthz)
 *   PROFILE_STATEMENTS=1 …   prints, per search, the statements one first-page request runs (on
 *                            PostgreSQL each a round trip; on PGlite BEGIN/COMMIT are not seen) and
 *                            the time waited for each kind, on stderr
 * Prints a table and writes bench/results/search-scale-<backend>.json.
 */
import { writeFileSync } from 'node:fs';
import type { Bundle } from '@medplum/fhirtypes';
import type { Db, Queryable, QueryResult, TransactionOptions } from '../src/store/db.ts';
import { openDb } from '../src/store/open-db.ts';
import { seedObservations } from '../test/support/bulk-seed.ts';
import type { TestDb } from '../test/support/test-db.ts';
import { fetchToken, readDevClients, startTestService } from '../test/support/test-service.ts';
import { installStatementProfile, profileDb, takeStatementProfile } from './support/statement-profile.ts';

const backend = process.env.DATABASE_URL ? 'postgresql' : 'pglite';
const N = Number(process.env.SCALE_BENCH_RESOURCES ?? (backend === 'postgresql' ? 1_000_000 : 200_000));
const PATIENTS = Number(process.env.SCALE_BENCH_PATIENTS ?? N / 500);
const REPS = Number(process.env.SCALE_BENCH_REPS ?? 200);
const PAGES = Number(process.env.SCALE_BENCH_PAGES ?? 30);
const EXPLAIN = process.env.SCALE_BENCH_EXPLAIN === '1';
const KEEP_SCHEMA = process.env.SCALE_BENCH_SCHEMA;
const ONLY = process.env.SCALE_BENCH_ONLY?.split(',').map(Number);
const PROFILING = process.env.PROFILE_STATEMENTS === '1';
if (PROFILING && backend === 'postgresql') installStatementProfile();
if (KEEP_SCHEMA && (!process.env.DATABASE_URL || !/^[a-z_][a-z0-9_]*$/.test(KEEP_SCHEMA)))
  throw new Error('SCALE_BENCH_SCHEMA needs DATABASE_URL and a plain lower-case name');

/** Records the reads (SELECT, or WITH … SELECT) the service runs while `on`, to EXPLAIN them afterwards. */
function recorder(db: Db): { on: boolean; seen: [string, unknown[] | undefined][] } {
  const state = { on: false, seen: [] as [string, unknown[] | undefined][] };
  const wrap = (q: Queryable): Queryable => ({
    query: <R extends object>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>> => {
      // Reads only: EXPLAIN ANALYZE runs the statement again (the AuditEvent's write must not).
      if (state.on && /^\s*(SELECT|WITH)\b/i.test(text) && !/set_config|\b(INSERT|UPDATE|DELETE)\b/i.test(text))
        state.seen.push([text, params]);
      return q.query<R>(text, params, name);
    },
    exec: (text: string) => q.exec(text),
  });
  const query = db.query.bind(db);
  const transaction = db.transaction.bind(db);
  const withSettings = db.withSettings?.bind(db);
  Object.assign(db, {
    // A search that runs its one statement alone (src/store/time-budget.ts) goes through here.
    ...(withSettings ? { withSettings: (s: Parameters<typeof withSettings>[0]) => wrap(withSettings(s)) } : {}),
    query: <R extends object>(text: string, params?: unknown[]) =>
      wrap({ query, exec: db.exec.bind(db) }).query<R>(text, params),
    transaction: <T>(
      fn: (tx: Queryable, first?: Record<string, unknown>[]) => Promise<T>,
      options?: TransactionOptions,
    ) => transaction((tx, first) => fn(wrap(tx), first), options),
  });
  return state;
}

/** A kept schema: opened (and migrated) as is, never dropped by the bench. */
async function keptDb(schema: string): Promise<TestDb> {
  const db = await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir: '', schema, poolSize: 8 });
  return { db, schema, drop: () => db.close() };
}

const s = await startTestService(
  { LOG_LEVEL: 'silent', BODY_LIMIT: '20mb', RATE_LIMIT_PER_MINUTE: '100000000' },
  KEEP_SCHEMA ? { testDb: await keptDb(KEEP_SCHEMA) } : {},
);
try {
  const db = s.testDb.db;
  const t0 = performance.now();
  const have = KEEP_SCHEMA
    ? Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM resources WHERE resource_type = 'Observation' AND id LIKE 'ss-%'`,
          )
        ).rows[0]?.n,
      )
    : 0;
  if (have !== 0 && have !== N) throw new Error(`schema ${KEEP_SCHEMA} holds ${have} seeded Observations, not ${N}`);
  const seeded = have === N;
  if (!seeded) await seedObservations(db, { prefix: 'ss', count: N, patients: PATIENTS });
  // As the table stands once autovacuum has been by (visibility map set: index-only scans).
  await db.exec(seeded ? 'ANALYZE' : 'VACUUM ANALYZE');
  const seedSeconds = Math.round((performance.now() - t0) / 100) / 10;
  console.error(`${seeded ? 'reused' : 'seeded'} ${N} in ${seedSeconds} s`);
  const patient = 'ss-p7';
  const put = await s.call(`/fhir/Patient/${patient}`, {
    method: 'PUT',
    body: JSON.stringify({ resourceType: 'Patient', id: patient }),
  });
  if (put.status >= 300) throw new Error(`patient: ${put.status} ${await put.text()}`);
  // PGlite runs in this thread: after a long seed, let the server's keep-alive timers fire before
  // reusing pooled connections (else the first request races a closing socket).
  await new Promise((r) => setTimeout(r, 500));
  const rec = EXPLAIN ? recorder(db) : undefined;
  if (PROFILING && backend === 'pglite') profileDb(db);

  // A fresh token every minute: a slow run outlives the service's token lifetime.
  const research = readDevClients(s.dataDir).find((c) => c.role === 'research');
  if (!research) throw new Error('no research client');
  let token = { value: await fetchToken(s.url, research), at: performance.now() };
  const get = async (path: string): Promise<{ ms: number; bundle: Bundle | undefined }> => {
    if (performance.now() - token.at > 60_000)
      token = { value: await fetchToken(s.url, research), at: performance.now() };
    const t = performance.now();
    const res = await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${token.value}` } });
    const body = await res.text();
    const ms = performance.now() - t;
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body.slice(0, 500)}`);
    return { ms, bundle: body.startsWith('{"resourceType":"Bundle"') ? (JSON.parse(body) as Bundle) : undefined };
  };
  const nextOf = (b: Bundle | undefined): string | undefined => {
    const url = b?.link?.find((l) => l.relation === 'next')?.url;
    return url ? url.slice(s.url.length) : undefined;
  };
  const pct = (times: number[], p: number): number => {
    const sorted = [...times].sort((a, b) => a - b);
    return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN) * 10) / 10;
  };

  const searches: [string, string][] = [
    ['bare request (/healthz)', '/healthz'],
    [
      'one measure over a month, 100 a page',
      '/fhir/Observation?code=http://loinc.org|777-3&date=ge2022-03-01&date=lt2022-04-01&_count=100',
    ],
    [
      'one patient’s measure, newest first',
      `/fhir/Observation?subject=Patient/${patient}&code=http://loinc.org|777-3&_sort=-date`,
    ],
    ['Patient/$everything (500 resources, 100 a page)', `/fhir/Patient/${patient}/$everything`],
    ['Observation/_history, 100 a page', '/fhir/Observation/_history?_count=100'],
    ['_history (system), 100 a page', '/fhir/_history?_count=100'],
    // A statement that costs next to nothing: what is left is the request around it.
    ['one Patient by _id (the request around a search)', `/fhir/Patient?_id=${patient}`],
  ];
  const cells = [];
  for (const [index, [label, path]] of searches.entries()) {
    if (ONLY && !ONLY.includes(index)) continue;
    for (let i = 0; i < 10; i++) await get(path);
    const first: number[] = [];
    let entries = 0;
    let total: number | undefined;
    if (PROFILING) takeStatementProfile();
    for (let i = 0; i < REPS; i++) {
      const r = await get(path);
      first.push(r.ms);
      if (i === 0) {
        entries = r.bundle?.entry?.length ?? 0;
        total = r.bundle?.total;
      }
    }
    if (PROFILING) {
      // Per request: the audit write of the last requests may still be on its way (a few more).
      const p = takeStatementProfile();
      console.error(
        `-- ${label}: ${(p.statements / REPS).toFixed(2)} statements a request, ${(p.ms / REPS).toFixed(2)} ms waited`,
      );
      for (const [kind, k] of p.kinds)
        console.error(
          `${(k.count / REPS).toFixed(2).padStart(7)} ${(k.ms / k.count).toFixed(3).padStart(8)} ms each  ${kind}`,
        );
    }
    // The pages after the first, by following next links; walked again until PAGES pages are read
    // (or the search's pages twice over when it has fewer), so short searches get enough samples.
    const later: number[] = [];
    let walks = 0;
    let seenAll = 0;
    while (later.length < PAGES && walks < 50) {
      walks++;
      let next = nextOf((await get(path)).bundle);
      let pages = 0;
      while (next && later.length < PAGES) {
        const r = await get(next);
        later.push(r.ms);
        pages++;
        seenAll += r.bundle?.entry?.length ?? 0;
        next = nextOf(r.bundle);
      }
      if (pages === 0) break;
    }
    if (rec) {
      for (const [what, p] of [
        ['first page', path],
        ['a later page', nextOf((await get(nextOf((await get(path)).bundle) ?? path)).bundle)],
      ] as const) {
        if (!p) continue;
        rec.seen = [];
        rec.on = true;
        await get(p);
        rec.on = false;
        for (const [text, params] of rec.seen) {
          // As the service runs a search (src/store/time-budget.ts): without parallel workers.
          const plan = await db.transaction(async (tx) => {
            if (db.backend === 'postgresql')
              await tx.query("SELECT set_config('max_parallel_workers_per_gather', '0', true)");
            return tx.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, params);
          });
          console.log(`\n--- ${label}, ${what}\n${text}\n${JSON.stringify(params)}`);
          for (const row of plan.rows) console.log(Object.values(row)[0]);
        }
      }
    }
    cells.push({
      label,
      path,
      entries,
      total,
      firstP50ms: pct(first, 0.5),
      firstP99ms: pct(first, 0.99),
      laterPages: later.length,
      laterEntries: seenAll,
      laterP50ms: later.length ? pct(later, 0.5) : undefined,
      laterP99ms: later.length ? pct(later, 0.99) : undefined,
    });
  }
  console.log(
    `\nResearch searches on ${backend}: ${N} Observations of ${PATIENTS} patients (seeded in ${seedSeconds} s), ${REPS} first pages, up to ${PAGES} later pages each`,
  );
  console.log('| search | entries | total | first page p50 / p99 ms | later pages | p50 / p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const c of cells) {
    console.log(
      `| ${c.label} | ${c.entries} | ${c.total ?? '–'} | ${c.firstP50ms} / ${c.firstP99ms} | ${c.laterPages} | ${c.laterP50ms ?? '–'} / ${c.laterP99ms ?? '–'} |`,
    );
  }
  const report = {
    backend,
    node: process.version,
    observations: N,
    patients: PATIENTS,
    reps: REPS,
    seedSeconds,
    cells,
  };
  console.log(JSON.stringify(report, null, 2));
  writeFileSync(
    new URL(`./results/search-scale-${backend}.json`, import.meta.url),
    `${JSON.stringify(report, null, 2)}\n`,
  );
} finally {
  await s.stop();
}
