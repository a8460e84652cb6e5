import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';

/** An Observation body as text, so a test can put into it what JSON.stringify would never write. */
function observationText(valueJson: string): string {
  return `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":${valueJson},"unit":"mL"}}`;
}

async function expect400(res: Response, text: RegExp): Promise<void> {
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toContain('application/fhir+json');
  const oo = (await res.json()) as OperationOutcome;
  expect(oo.resourceType).toBe('OperationOutcome');
  expect(oo.issue?.[0]?.details?.text ?? '').toMatch(text);
}

describe('inputs FHIR does not allow are 400s, never 500s nor stored altered', () => {
  let s: TestService;
  const countObservations = async (): Promise<number> => {
    const r = await s.call('/fhir/Observation?_summary=count');
    return ((await r.json()) as Bundle).total ?? -1;
  };
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('rejects JSON nested deeper than the configured depth before walking it', async () => {
    const deep = `{"resourceType":"Patient","extension":[${'['.repeat(5000)}${']'.repeat(5000)}]}`;
    await expect400(await s.call('/fhir/Patient', { method: 'POST', body: deep }), /nested deeper than 100/);
    const bundle = `{"resourceType":"Bundle","type":"transaction","entry":${'['.repeat(150)}${']'.repeat(150)}}`;
    await expect400(await s.call('/fhir', { method: 'POST', body: bundle }), /nested deeper/);
    // A realistic nesting still passes.
    const ok = await s.call('/fhir/Patient', {
      method: 'POST',
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Deep', given: ['A'] }] }),
    });
    expect(ok.status).toBe(201);
  });

  it.each(['__proto__', 'constructor'])('rejects the property name %s', async (key) => {
    const body = `{"resourceType":"Patient","name":[{"family":"P","${key}":{"x":1}}]}`;
    await expect400(await s.call('/fhir/Patient', { method: 'POST', body }), new RegExp(`property name ${key}`));
    const escaped = `{"resourceType":"Patient","\\u005f_proto__":{"active":true}}`;
    await expect400(await s.call('/fhir/Patient', { method: 'POST', body: escaped }), /__proto__/);
  });

  it('rejects invalid UTF-8 instead of replacing it', async () => {
    const before = Buffer.from('{"resourceType":"Patient","name":[{"family":"M');
    const after = Buffer.from('ller"}]}');
    const body = Buffer.concat([before, Buffer.from([0xfc]), after]);
    await expect400(await s.call('/fhir/Patient', { method: 'POST', body }), /not valid UTF-8/);
    const form = Buffer.concat([Buffer.from('family='), Buffer.from([0xc3, 0x28])]);
    const search = await s.call('/fhir/Patient/_search', {
      method: 'POST',
      body: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await expect400(search, /not valid UTF-8/);
  });

  it.each([
    ['1e-400', 'underflows to 0'],
    ['18446744073709551616', '2^64, rounded'],
    ['9007199254740993', '2^53 + 1, rounded'],
    ['1e400', 'overflows'],
    ['0.12345678901234567890', 'more digits than a double holds'],
  ])('rejects the number %s (%s)', async (value) => {
    const before = await countObservations();
    await expect400(
      await s.call('/fhir/Observation', { method: 'POST', body: observationText(value) }),
      new RegExp(`number ${value.replace('.', '\\.')} cannot be represented exactly`),
    );
    expect(await countObservations()).toBe(before);
  });

  it.each(['1.5', '-0.0001', '1e2', '123456789012345', '1.50', '2.5e-7', '0'])('keeps the number %s', async (value) => {
    const res = await s.call('/fhir/Observation', { method: 'POST', body: observationText(value) });
    expect(res.status).toBe(201);
    const stored = (await res.json()) as { valueQuantity: { value: number } };
    expect(stored.valueQuantity.value).toBe(Number(value));
  });

  it.each(['/__proto__/polluted', '/constructor/prototype/polluted', '/name/0/__proto__'])(
    'rejects a JSON Patch through %s',
    async (path) => {
      const created = (await (
        await s.call('/fhir/Patient', {
          method: 'POST',
          body: JSON.stringify({ resourceType: 'Patient', active: true }),
        })
      ).json()) as Patient;
      const res = await s.call(`/fhir/Patient/${created.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json' },
        body: JSON.stringify([{ op: 'add', path, value: true }]),
      });
      await expect400(res, /not a FHIR element/);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const read = await s.call(`/fhir/Patient/${created.id}`);
      expect(read.headers.get('etag')).toBe('W/"1"');
    },
  );

  it('rejects a malformed percent-encoding in the path', async () => {
    await expect400(await s.call('/fhir/Patient/%E0%A4%A'), /percent-encoded/);
    await expect400(await s.call('/fhir/Patient/%FF'), /percent-encoded/);
    await expect400(await s.call('/fhir/%E0%A4%A/abc', { method: 'DELETE' }), /percent-encoded/);
  });
});
