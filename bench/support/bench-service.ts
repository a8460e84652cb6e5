/**
 * Starts the service as `npm start` would (own process, so load generator and server do not share
 * an event loop), on PGlite in a temporary folder or on PostgreSQL in a fresh schema, and gets a
 * development admin token.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { spawnService } from '../../test/support/service-process.ts';
import { fetchToken, readDevClients } from '../../test/support/test-service.ts';

export interface BenchService {
  url: string;
  pid: number;
  backend: 'pglite' | 'postgresql';
  token: string;
  tokenFor(role: string): Promise<string>;
  /** Peak resident memory of the service process so far (VmHWM), in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

export async function startBenchService(extraEnv: Record<string, string> = {}): Promise<BenchService> {
  const databaseUrl = process.env.DATABASE_URL;
  const dataDir = mkdtempSync(join(tmpdir(), 'khe-bench-'));
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  // The load generator is one client: lift the per-client rate limit so it measures the service.
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    RATE_LIMIT_PER_MINUTE: '100000000',
    ...extraEnv,
  };
  // BENCH_CPU_PROFILE_DIR: write a V8 CPU profile of the service process there when it stops.
  if (process.env.BENCH_CPU_PROFILE_DIR)
    env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR}`;
  if (databaseUrl) Object.assign(env, { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, DB_POOL_SIZE: '32' });
  // BENCH_NODE_ARGS: further Node flags for the service process (--trace-gc, say).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const svc = await spawnService(env, undefined, nodeArgs);
  const clients = readDevClients(dataDir);
  const tokenFor = async (role: string): Promise<string> => {
    const c = clients.find((x) => x.role === role);
    if (!c) throw new Error(`no dev client for role ${role}`);
    return fetchToken(svc.url, c);
  };
  const pid = svc.child.pid as number;
  return {
    url: svc.url,
    pid,
    backend: databaseUrl ? 'postgresql' : 'pglite',
    token: await tokenFor('admin'),
    tokenFor,
    peakRssMb() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return Math.round(kb / 1024);
    },
    async stop() {
      svc.child.kill('SIGTERM');
      await svc.exited;
      // BENCH_SERVICE_LOG: keep what the service printed (its log, GC traces) in that file.
      if (process.env.BENCH_SERVICE_LOG) writeFileSync(process.env.BENCH_SERVICE_LOG, svc.output());
      rmSync(dataDir, { recursive: true, force: true });
      if (databaseUrl) {
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    },
  };
}
