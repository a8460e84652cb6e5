import type { OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';

describe('per-client rate limit', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ RATE_LIMIT_PER_MINUTE: '60' });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('answers 429 with Retry-After and an OperationOutcome past the budget, per client', async () => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 15; i++) {
      const res = await s.call('/fhir/ResearchStudy/nct04775173', { role: 'research' });
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
      else await res.arrayBuffer();
    }
    expect(statuses.filter((x) => x === 200).length).toBeGreaterThanOrEqual(10);
    expect(statuses).toContain(429);
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
    const oo = (await limited?.json()) as OperationOutcome;
    expect(oo.issue?.[0]?.code).toBe('throttled');
    // Another client has its own budget.
    expect((await s.call('/fhir/ResearchStudy/nct04775173', { role: 'clinician' })).status).toBe(200);
  });
});

describe('token endpoint limit per address', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ TOKEN_REQUESTS_PER_MINUTE: '6' });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('slows down repeated token requests from one address with 429 and Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.url}/auth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${btoa('nobody:wrong')}`,
        },
        body: 'grant_type=client_credentials',
      });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
      await res.arrayBuffer();
    }
    expect(statuses[0]).toBe(401);
    expect(statuses.slice(1)).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });
});
