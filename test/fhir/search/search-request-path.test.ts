// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
// Issue 22: what a search request does around its statement (src/store/time-budget.ts: a read-only
// transaction whose COMMIT the answer does not wait for; the audit trail's prepared group commit).
// What must not change: every search leaves its AuditEvent committed before the answer, a search
// stopped by its budget is audited as a failure, and PostgreSQL stops a statement at the budget.
import { randomUUID } from 'node:crypto';
import type { AuditEvent, Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../../support/test-db.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const obs = (id: string, date: string): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://example.org/codes', code: 'srp' }] },
  subject: { reference: 'Patient/srp-1' },
  effectiveDateTime: date,
  valueQuantity: { value: 1, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
});

/** The AuditEvents carrying this request id, read straight from the store (another connection). */
async function eventsOf(s: TestService, requestId: string): Promise<AuditEvent[]> {
  const r = await s.testDb.db.query<{ content: string }>(
    `SELECT content FROM audit_events WHERE content LIKE '%' || $1 || '%'`,
    [requestId],
  );
  return r.rows.map((row) => JSON.parse(row.content) as AuditEvent);
}

const queryOf = (e: AuditEvent | undefined): string | undefined => {
  const q = e?.entity?.find((x) => x.query)?.query;
  return q === undefined ? undefined : Buffer.from(q, 'base64').toString('utf8');
};

describe('a search request around its statement', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    for (let i = 0; i < 5; i++) {
      const put = await s.call(`/fhir/Observation/srp-${i}`, {
        method: 'PUT',
        body: JSON.stringify(obs(`srp-${i}`, `2024-01-0${i + 1}`)),
      });
      expect(put.status).toBeLessThan(300);
    }
  });
  afterAll(async () => {
    await s.stop();
  });

  it('has each search’s AuditEvent committed when its answer arrives, search after search', async () => {
    const token = await s.token('research');
    for (let i = 0; i < 20; i++) {
      const requestId = randomUUID();
      const path = `/fhir/Observation?code=http://example.org/codes|srp&_sort=-date&_count=${(i % 3) + 1}`;
      const res = await fetch(`${s.url}${path}`, {
        headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId },
      });
      expect(res.status).toBe(200);
      const bundle = (await res.json()) as Bundle;
      expect(bundle.entry?.length).toBe((i % 3) + 1);
      // Read at once, on another connection: committed before the answer, not after it.
      const [event, ...more] = await eventsOf(s, requestId);
      expect(more).toEqual([]);
      expect(event?.outcome).toBe('0');
      expect(event?.action).toBe('E');
      expect(event?.subtype?.[0]?.code).toBe('search-type');
      expect(queryOf(event)).toBe(path.slice(path.indexOf('?') + 1));
    }
  });

  it('pages from the bound read with the first page: what was created before it is in, what came after is not', async () => {
    const put = (id: string, date: string) =>
      s.call(`/fhir/Observation/${id}`, { method: 'PUT', body: JSON.stringify(obs(id, date)) });
    expect((await put('srp-b1', '2023-06-01')).status).toBe(201);
    const search = '/fhir/Observation?code=http://example.org/codes|srp&date=lt2023-12-31&_count=1';
    const first = (await (await s.call(search, { role: 'research' })).json()) as Bundle;
    expect(first.entry?.map((e) => e.resource?.id)).toEqual(['srp-b1']);
    expect((await put('srp-b0', '2023-05-01')).status).toBe(201);
    expect((await put('srp-b2', '2023-04-01')).status).toBe(201);
    // Nothing else matched when the first page was read: no page after it would show the later two.
    expect(first.link?.find((l) => l.relation === 'next')).toBeUndefined();
    const again = (await (
      await s.call(search.replace('_count=1', '_count=10'), { role: 'research' })
    ).json()) as Bundle;
    expect(again.entry?.map((e) => e.resource?.id)).toEqual(['srp-b1', 'srp-b0', 'srp-b2']);
    const paged = (await (await s.call(search, { role: 'research' })).json()) as Bundle;
    const next = paged.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toBeDefined();
    expect((await put('srp-b3', '2023-03-01')).status).toBe(201);
    const ids: (string | undefined)[] = paged.entry?.map((e) => e.resource?.id) ?? [];
    let url = next;
    while (url) {
      const page = (await (await s.call(url.slice(s.url.length), { role: 'research' })).json()) as Bundle;
      ids.push(...(page.entry?.map((e) => e.resource?.id) ?? []));
      url = page.link?.find((l) => l.relation === 'next')?.url;
    }
    expect(ids).toEqual(['srp-b1', 'srp-b0', 'srp-b2']);
  });

  it('still answers searches after many, the pool not left inside transactions', async () => {
    const token = await s.token('research');
    const all = await Promise.all(
      Array.from({ length: 40 }, () =>
        fetch(`${s.url}/fhir/Observation?code=http://example.org/codes|srp`, {
          headers: { authorization: `Bearer ${token}` },
        }).then((r) => r.status),
      ),
    );
    expect(new Set(all)).toEqual(new Set([200]));
    // A write after them is durable and seen: no connection was handed back mid-transaction.
    const put = await s.call('/fhir/Observation/srp-9', {
      method: 'PUT',
      body: JSON.stringify(obs('srp-9', '2024-02-01')),
    });
    expect(put.status).toBe(201);
    const found = (await (await s.call('/fhir/Observation?_id=srp-9', { role: 'research' })).json()) as Bundle;
    expect(found.entry?.map((e) => e.resource?.id)).toEqual(['srp-9']);
  });
});

describe('a search stopped by its time budget', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ SEARCH_TIMEOUT_MS: '5' });
    // Enough current Observations that counting them against a :not condition outlasts 5 ms.
    await s.testDb.db.query(
      `INSERT INTO resources (resource_type, id, version_id, last_updated, content)
       SELECT 'Observation', 'srt-' || g, 1, now(), '{}' FROM generate_series(1, 60000) g`,
    );
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('is audited as a failure, with its query, before the 503 arrives', async () => {
    const requestId = randomUUID();
    const res = await fetch(`${s.url}/fhir/Observation?code:not=zz&_total=accurate`, {
      headers: { authorization: `Bearer ${await s.token('research')}`, 'x-request-id': requestId },
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as OperationOutcome).issue?.[0]?.code).toBe('timeout');
    const [event, ...more] = await eventsOf(s, requestId);
    expect(more).toEqual([]);
    expect(event?.outcome).toBe('8');
    expect(queryOf(event)).toBe('code:not=zz&_total=accurate');
  }, 60_000);

  // One statement and nothing after it (_count=0 only counts): only statement_timeout can stop it
  // (PGlite cannot stop a running statement; it checks the budget between statements).
  it.runIf(testBackend() === 'postgresql')(
    'stops a single long statement on PostgreSQL (statement_timeout)',
    async () => {
      const res = await s.call('/fhir/Observation?code:not=zz&_total=accurate&_count=0', { role: 'research' });
      expect(res.status).toBe(503);
      expect(((await res.json()) as OperationOutcome).issue?.[0]?.details?.text).toMatch(/time budget of 5 ms/);
      // The cancelled statement's connection is usable: reads on every pooled connection work.
      const after = await Promise.all(
        Array.from({ length: 10 }, () => s.call('/fhir/Observation/srt-1', { role: 'research' }).then((r) => r.status)),
      );
      expect(new Set(after)).toEqual(new Set([200]));
    },
    60_000,
  );
});
