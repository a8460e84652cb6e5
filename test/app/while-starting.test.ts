import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whileStarting } from '../../src/app/while-starting.ts';

describe('the port while the service starts', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer(whileStarting);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers liveness, so a long start-up is not restarted by a probe', async () => {
    const res = await fetch(`${base}/healthz?probe=k8s`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'starting' });
  });

  it('is not ready, and serves nothing else yet', async () => {
    for (const path of ['/readyz', '/fhir/metadata', '/fhir/Observation']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
    }
    const post = await fetch(`${base}/healthz`, { method: 'POST' });
    expect(post.status).toBe(503);
  });
});
