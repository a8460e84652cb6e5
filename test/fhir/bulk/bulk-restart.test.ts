/**
 * Restart during an export: the service runs as a real child process, is SIGKILLed while a job is
 * half done, and a new process on the same store takes the job over when its lease expires and
 * finishes it from the last committed batch: every resource exactly once, never a manifest that
 * points at missing data. A graceful stop hands the lease back at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExportManifest } from '../../../src/fhir/bulk/manifest.ts';
import { spawnService } from '../../support/service-process.ts';
import { fetchToken, readDevClients } from '../../support/test-service.ts';

const databaseUrl = process.env.DATABASE_URL;
const N = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`$export across a restart (${databaseUrl ? 'postgresql' : 'pglite'})`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'khe-bulk-restart-'));
  const schema = `t_bulk_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    BULK_EXPORT_BATCH_SIZE: '10',
    BULK_EXPORT_THROTTLE_MS: '40',
    BULK_EXPORT_LEASE_SECONDS: '2',
    BULK_EXPORT_MIN_POLL_MS: '100',
  };
  if (databaseUrl) Object.assign(env, { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema });

  afterAll(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    if (databaseUrl) {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  });

  async function progressOf(url: string, token: string, status: string): Promise<number> {
    const res = await fetch(status.replace(/^http:\/\/[^/]+/, url), { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (res.status === 200) return N;
    return Number(/^(\d+)/.exec(res.headers.get('x-progress') ?? '')?.[1] ?? 0);
  }

  async function manifestOf(url: string, token: string, status: string): Promise<ExportManifest> {
    for (let i = 0; i < 600; i++) {
      const res = await fetch(status.replace(/^http:\/\/[^/]+/, url), {
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status === 200) return (await res.json()) as ExportManifest;
      expect([202, 429]).toContain(res.status);
      await res.arrayBuffer();
      await sleep(200);
    }
    throw new Error('export did not finish');
  }

  async function linesOf(url: string, token: string, manifest: ExportManifest): Promise<string[]> {
    const out: string[] = [];
    for (const o of manifest.output) {
      const res = await fetch(o.url.replace(/^http:\/\/[^/]+/, url), { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      out.push(...(await res.text()).split('\n').filter((l) => l.length > 0));
    }
    return out;
  }

  it('resumes after kill -9 (lease expiry) and after a graceful stop, with every resource exactly once', async () => {
    const first = await spawnService(env);
    const admin = readDevClients(dataDir).find((c) => c.role === 'admin');
    if (!admin) throw new Error('no admin dev client');
    let token = await fetchToken(first.url, admin);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: Array.from({ length: N }, (_, i) => ({
        resource: { resourceType: 'Patient', id: `rs-${i}` },
        request: { method: 'PUT', url: `Patient/rs-${i}` },
      })),
    };
    const seeded = await fetch(`${first.url}/fhir`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(bundle),
    });
    expect(seeded.status).toBe(200);
    const kick = await fetch(`${first.url}/fhir/$export?_type=Patient`, {
      headers: { authorization: `Bearer ${token}`, prefer: 'respond-async' },
    });
    expect(kick.status).toBe(202);
    const status = kick.headers.get('content-location') as string;

    // Half way: kill -9, so the lease is not handed back.
    let done = 0;
    while (done < 100) {
      await sleep(150);
      done = await progressOf(first.url, token, status);
    }
    expect(done).toBeLessThan(N);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = await spawnService(env);
    token = await fetchToken(second.url, admin);
    // Let the new instance take the job over (lease expiry) and make progress, then stop it gracefully.
    let resumed = 0;
    while (resumed <= done + 50) {
      await sleep(150);
      resumed = await progressOf(second.url, token, status);
    }
    expect(resumed).toBeLessThan(N);
    second.child.kill('SIGTERM');
    await second.exited;

    const third = await spawnService(env);
    token = await fetchToken(third.url, admin);
    const manifest = await manifestOf(third.url, token, status);
    expect(manifest.output).toHaveLength(1);
    expect(manifest.output[0]?.count).toBe(N);
    const lines = await linesOf(third.url, token, manifest);
    expect(lines).toHaveLength(N);
    const ids = new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id));
    expect(ids.size).toBe(N);
    third.child.kill('SIGTERM');
    await third.exited;
  }, 180_000);
});
