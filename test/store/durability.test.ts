/**
 * A write that got a 2xx survives kill -9 of the process right after the response: the service runs
 * as a real child process, is SIGKILLed mid-load, restarted on the same store, and every
 * acknowledged resource is read back.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnService } from '../support/service-process.ts';
import { fetchToken, readDevClients } from '../support/test-service.ts';

const databaseUrl = process.env.DATABASE_URL;

describe(`durability under kill -9 (${databaseUrl ? 'postgresql' : 'pglite'})`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'khe-kill-'));
  const schema = `t_kill_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = { DATA_DIR: dataDir, LOG_LEVEL: 'info' };
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

  it('finds every acknowledged write after SIGKILL and restart', async () => {
    const first = await spawnService(env);
    const admin = readDevClients(dataDir).find((c) => c.role === 'admin');
    if (!admin) throw new Error('no admin dev client');
    const token = await fetchToken(first.url, admin);
    const acknowledged: string[] = [];
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await fetch(`${first.url}/fhir/Patient`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
            body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'urn:kill', value: `${w}-${i}` }] }),
          });
          if (res.status === 201) acknowledged.push((res.headers.get('location') ?? '').split('/')[5] as string);
        } catch {
          return; // the connection died with the process: that write was never acknowledged
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 5));
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    expect(await first.exited).toBe('SIGKILL');

    // The lock file left by the killed process must not stop the restart.
    const second = await spawnService(env);
    try {
      const token2 = await fetchToken(second.url, admin);
      const missing: string[] = [];
      for (const id of acknowledged) {
        const res = await fetch(`${second.url}/fhir/Patient/${id}`, { headers: { authorization: `Bearer ${token2}` } });
        if (res.status !== 200) missing.push(id);
      }
      expect(acknowledged.length).toBeGreaterThanOrEqual(200);
      expect(missing).toEqual([]);
      // The trial is loaded again at start-up without a duplicate or a new version.
      const studies = await fetch(
        `${second.url}/fhir/ResearchStudy?identifier=https://clinicaltrials.gov|NCT04775173`,
        { headers: { authorization: `Bearer ${token2}` } },
      );
      const bundle = (await studies.json()) as {
        total: number;
        entry: { resource: { id: string; meta: { versionId: string } } }[];
      };
      expect(bundle.total).toBe(1);
      expect(bundle.entry[0]?.resource.meta.versionId).toBe('1');
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 120_000);

  it('refuses a second process on the same PGlite data folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'khe-lock-'));
    const a = await spawnService({ DATA_DIR: dir });
    try {
      const b = spawnService({ DATA_DIR: dir });
      await expect(b).rejects.toThrow(/STORE_DATA_DIR_LOCKED/);
    } finally {
      a.child.kill('SIGTERM');
      await a.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
