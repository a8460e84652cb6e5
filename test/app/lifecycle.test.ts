/**
 * SIGTERM drains: a request in flight when the signal arrives still gets its answer (and its data
 * is kept), new connections are refused, and the process exits 0 after closing the store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnService } from '../support/service-process.ts';
import { fetchToken, readDevClients } from '../support/test-service.ts';

describe('graceful shutdown', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'khe-drain-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('finishes the in-flight transaction, then exits 0', async () => {
    const svc = await spawnService({ DATA_DIR: dataDir });
    const admin = readDevClients(dataDir).find((c) => c.role === 'admin');
    if (!admin) throw new Error('no admin dev client');
    const token = await fetchToken(svc.url, admin);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 1500 }, (_, i) => ({
        resource: { resourceType: 'Patient', identifier: [{ system: 'urn:drain', value: String(i) }] },
        request: { method: 'POST' as const, url: 'Patient' },
      })),
    };
    const inFlight = fetch(`${svc.url}/fhir`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body: JSON.stringify(bundle),
    });
    await new Promise((r) => setTimeout(r, 100));
    svc.child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await svc.exited).toBe(0);
    expect(svc.output()).toContain('"msg":"stopped"');
    await expect(fetch(`${svc.url}/healthz`)).rejects.toThrow();

    const again = await spawnService({ DATA_DIR: dataDir });
    try {
      const t2 = await fetchToken(again.url, admin);
      const count = await fetch(`${again.url}/fhir/Patient?identifier=urn:drain|&_summary=count`, {
        headers: { authorization: `Bearer ${t2}` },
      });
      expect(((await count.json()) as Bundle).total).toBe(1500);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  }, 120_000);
});
