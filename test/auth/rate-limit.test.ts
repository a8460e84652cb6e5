import type express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessContext } from '../../src/auth/access-context.ts';
import { createRateLimiter, TokenBucketLimiter } from '../../src/auth/rate-limit.ts';
import { listen, type RunningApp, testApp } from './auth-fixtures.ts';

describe('TokenBucketLimiter', () => {
  it('allows a burst, then refills at the configured rate', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ requestsPerMinute: 60, burst: 3, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(1); // one request a second: wait 1 s
    expect(limiter.take('b')).toBe(0); // buckets are per key
    now += 1000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
  });

  it('reports the real wait for slow rates', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ requestsPerMinute: 2, burst: 1, now: () => now });
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(30);
    now += 29_000;
    expect(limiter.take('a')).toBe(1);
  });
});

describe('createRateLimiter over HTTP', () => {
  let app: RunningApp;
  beforeAll(async () => {
    const setAccess: express.RequestHandler = (req, res, next) => {
      const access: AccessContext = {
        clientId: String(req.headers['x-client']),
        clientName: 'x',
        role: 'research',
        scopes: [],
        tokenId: 't',
      };
      res.locals.access = access;
      next();
    };
    app = await listen(testApp({ protect: [setAccess, createRateLimiter({ requestsPerMinute: 60, burst: 2 })] }));
  });
  afterAll(() => app.close());

  it('answers 429 with Retry-After and a throttled OperationOutcome once a client spends its burst', async () => {
    const call = (client: string): Promise<Response> =>
      fetch(`${app.url}/fhir/Patient`, { headers: { 'x-client': client } });
    expect((await call('a')).status).toBe(200);
    expect((await call('a')).status).toBe(200);
    const limited = await call('a');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await limited.json()) as { resourceType: string; issue: { code: string }[] };
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0]?.code).toBe('throttled');
    // another client is unaffected
    expect((await call('b')).status).toBe(200);
  });
});
