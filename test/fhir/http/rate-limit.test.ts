import type { AuditEvent, Bundle, OperationOutcome } from '@medplum/fhirtypes';
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

describe('which address is believed (TRUST_PROXY)', () => {
  const tokenRequest = (url: string, forwardedFor: string) =>
    fetch(`${url}/auth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${btoa('nobody:wrong')}`,
        'x-forwarded-for': forwardedFor,
      },
      body: 'grant_type=client_credentials',
    });
  const auditedAddress = async (s: TestService, forwardedFor: string): Promise<string | undefined> => {
    const created = await s.call('/fhir/Patient', {
      method: 'POST',
      body: JSON.stringify({ resourceType: 'Patient' }),
      headers: { 'x-forwarded-for': forwardedFor },
    });
    expect(created.status).toBe(201);
    const marker = ((await created.json()) as { id: string }).id;
    // Audit records are written just after the answer: look until it is there.
    let event: AuditEvent | undefined;
    for (let i = 0; i < 30 && !event; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      const b = (await (await s.call('/fhir/AuditEvent?_count=200&_sort=-_lastUpdated')).json()) as Bundle<AuditEvent>;
      event = b.entry
        ?.map((e) => e.resource as AuditEvent)
        .find((a) => a.entity?.some((x) => x.what?.reference === `Patient/${marker}`));
    }
    return event?.agent?.[0]?.network?.address;
  };

  it('limits token requests by the socket address, whatever X-Forwarded-For says, when no proxy is trusted', async () => {
    const s = await startTestService({ TOKEN_REQUESTS_PER_MINUTE: '6' });
    try {
      await s.token('admin');
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await tokenRequest(s.url, `203.0.113.${i + 1}`);
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      expect(statuses.slice(1)).toContain(429);
      expect(await auditedAddress(s, '203.0.113.77')).toBe('127.0.0.1');
    } finally {
      await s.stop();
    }
  });

  it('believes X-Forwarded-For from the proxies TRUST_PROXY names, and records that address', async () => {
    const s = await startTestService({ TOKEN_REQUESTS_PER_MINUTE: '6', TRUST_PROXY: 'loopback' });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await tokenRequest(s.url, `203.0.113.${i + 1}`);
        expect(res.status).toBe(401);
        await res.arrayBuffer();
      }
      expect(await auditedAddress(s, '203.0.113.77')).toBe('203.0.113.77');
    } finally {
      await s.stop();
    }
  });
});
