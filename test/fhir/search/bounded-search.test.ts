// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';

const obs = (id: string, codes: string[], date: string): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: codes.map((code) => ({ system: 'http://example.org/codes', code })) },
  subject: { reference: 'Patient/bs-1' },
  effectiveDateTime: date,
  valueQuantity: { value: 1, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
});

describe('bounded search', () => {
  let s: TestService;
  beforeAll(async () => {
    // Raised above the default so that the cost of many repeats can be seen, not just refused.
    s = await startTestService({ SEARCH_MAX_PARAMETERS: '400', SEARCH_MAX_VALUES: '2000' });
    const rows: Observation[] = [
      obs('bs-ab', ['a', 'b'], '2022-02-01'),
      obs('bs-a', ['a'], '2022-05-01'),
      obs('bs-bc', ['b', 'c'], '2022-02-15'),
      obs('bs-abc', ['a', 'b', 'c'], '2023-01-01'),
    ];
    for (const o of rows) {
      const res = await s.call(`/fhir/Observation/${o.id}`, { method: 'PUT', body: JSON.stringify(o) });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await s.stop();
  });

  const search = async (query: string) => {
    const res = await s.call(`/fhir/Observation?${query}`);
    const body = (await res.json()) as Bundle | OperationOutcome;
    const ids = body.resourceType === 'Bundle' ? (body.entry ?? []).map((e) => e.resource?.id ?? '').sort() : [];
    return { status: res.status, body, ids };
  };
  const code = (c: string) => `code=${encodeURIComponent(`http://example.org/codes|${c}`)}`;

  it('keeps FHIR semantics when repeats share one condition: AND of repeats, OR inside a value', async () => {
    expect((await search(`${code('a')}&${code('b')}`)).ids).toEqual(['bs-ab', 'bs-abc']);
    expect((await search(`${code('a')}&${code('b')}&${code('c')}`)).ids).toEqual(['bs-abc']);
    expect(
      (await search(`${code('a')}&code=${encodeURIComponent('http://example.org/codes|c,http://example.org/codes|b')}`))
        .ids,
    ).toEqual(['bs-ab', 'bs-abc']);
    expect((await search(`${code('a')}&${code('a')}`)).ids).toEqual(['bs-a', 'bs-ab', 'bs-abc']);
    expect((await search('code=a&code=zz')).ids).toEqual([]);
    // Two repeats keep one condition each; three or more share one: both must agree.
    expect((await search(`${code('a')}&${code('b')}&${code('a')}`)).ids).toEqual(['bs-ab', 'bs-abc']);
    expect((await search('code=a&code=zz&code=a')).ids).toEqual([]);
    expect((await search('code:not=a&code:not=c')).ids).toEqual([]);
    expect((await search('code:not=a&code:not=c&code:not=zz')).ids).toEqual([]);
    expect((await search('code:not=c&code:not=zz')).ids).toEqual(['bs-a', 'bs-ab']);
    expect((await search('code:not=c&code:not=zz&code:not=yy')).ids).toEqual(['bs-a', 'bs-ab']);
    expect((await search('date=ge2022-02-01&date=lt2022-03-01')).ids).toEqual(['bs-ab', 'bs-bc']);
    const range = 'date=ge2022-02-01&date=lt2022-03-01&date=ge2022-01-01';
    expect((await search(range)).ids).toEqual(['bs-ab', 'bs-bc']);
    expect((await search(`${range}&code=b&code=c&code=b`)).ids).toEqual(['bs-bc']);
    expect((await search(`${range}&code=b&code=c&code=b&_summary=count`)).body).toMatchObject({ total: 1 });
  });

  it('answers 400 naming the limit when a search has more parameters or values than allowed', async () => {
    const many = Array.from({ length: 401 }, (_, i) => `code=x${i}`).join('&');
    const r = await search(many);
    expect(r.status).toBe(400);
    const issue = (r.body as OperationOutcome).issue?.[0];
    expect(issue?.code).toBe('too-costly');
    expect(issue?.details?.text).toMatch(/at most 400 parameters/);
    const values = await search(`code=${Array.from({ length: 2001 }, (_, i) => `x${i}`).join(',')}`);
    expect(values.status).toBe(400);
    expect((values.body as OperationOutcome).issue?.[0]?.details?.text).toMatch(/at most 2000 values/);
    // POST _search is bounded the same way.
    const posted = await s.call('/fhir/Observation/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: many,
    });
    expect(posted.status).toBe(400);
  });

  it('answers 400 at the default limit too', async () => {
    const d = await startTestService();
    try {
      const res = await fetch(
        `${d.fhir}/Observation?${Array.from({ length: 101 }, (_, i) => `code=x${i}`).join('&')}`,
        {
          headers: { authorization: `Bearer ${await d.token('research')}` },
        },
      );
      expect(res.status).toBe(400);
      expect(((await res.json()) as OperationOutcome).issue?.[0]?.details?.text).toMatch(/at most 100 parameters/);
    } finally {
      await d.stop();
    }
  });

  it('runs 400 repeats of one parameter in about the time of one', async () => {
    const query = Array.from({ length: 400 }, (_, i) => `code=x${i},a`).join('&');
    const started = performance.now();
    const r = await search(query);
    const ms = performance.now() - started;
    expect(r.status).toBe(200);
    expect(r.ids).toEqual(['bs-a', 'bs-ab', 'bs-abc']);
    // One join per repeat took tens of seconds here; one grouped pass takes milliseconds.
    expect(ms).toBeLessThan(5_000);
  }, 120_000);
});

describe('search time budget', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ SEARCH_TIMEOUT_MS: '5' });
    // Enough current Observations that counting them against a :not condition outlasts 5 ms.
    await s.testDb.db.query(
      `INSERT INTO resources (resource_type, id, version_id, last_updated, content)
       SELECT 'Observation', 'tb-' || g, 1, now(), '{}' FROM generate_series(1, 60000) g`,
    );
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('answers 503 (timeout) when a search outlasts its budget, and keeps serving', async () => {
    const res = await s.call('/fhir/Observation?code:not=zz&_total=accurate');
    expect(res.status).toBe(503);
    const outcome = (await res.json()) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue?.[0]?.code).toBe('timeout');
    expect(outcome.issue?.[0]?.details?.text).toMatch(/time budget of 5 ms/);
    expect((await s.call('/healthz', { role: 'none' })).status).toBe(200);
    expect((await s.call('/fhir/Patient/none-such')).status).toBe(404);
  }, 60_000);
});
