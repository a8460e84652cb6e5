/**
 * Property-based: whatever JSON body a client sends (any depth, key names, numbers, strings with
 * lone surrogates or invalid bytes), the service answers without a 5xx, /healthz stays fast while
 * it works, and what it acknowledges is what it stored.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthzProbe } from '../../support/healthz-probe.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const key = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'family', 'given', 'text'),
  fc.string({ maxLength: 8 }),
);
const number = fc.oneof(
  fc.double(),
  fc.constantFrom('1e-400', '18446744073709551616', '1e400', '0.1', '-0', '123456789012345678'),
);
const leaf = fc.oneof(fc.string({ maxLength: 12, unit: 'binary' }), fc.boolean(), fc.constant(null), number);

/** A JSON text: leaves as text so that numbers JSON.stringify would never write can be sent. */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf.map((v) =>
      typeof v === 'string' && /^[-\d]/.test(v) && !Number.isNaN(Number(v)) ? v : (JSON.stringify(v) ?? 'null'),
    ),
    fc.array(tie('value'), { maxLength: 3 }).map((a) => `[${a.join(',')}]`),
    fc
      .array(fc.tuple(key, tie('value')), { maxLength: 3 })
      .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value;

const body = fc.oneof(
  jsonText.map((v) => Buffer.from(`{"resourceType":"Patient","name":[{"text":${v}}]}`)),
  jsonText.map((v) =>
    Buffer.from(`{"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"http://x","valueString":${v}}]}`),
  ),
  fc
    .integer({ min: 90, max: 3000 })
    .map((n) => Buffer.from(`{"resourceType":"Patient","x":${'['.repeat(n)}${']'.repeat(n)}}`)),
  fc
    .uint8Array({ maxLength: 6 })
    .map((bytes) =>
      Buffer.concat([
        Buffer.from('{"resourceType":"Patient","name":[{"family":"'),
        Buffer.from(bytes),
        Buffer.from('"}]}'),
      ]),
    ),
);

describe('JSON bodies, property-based', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('never 5xx, /healthz answering meanwhile (median under 100 ms, never blocked), and a 201 stores exactly what it answered', async () => {
    const healthz = healthzProbe(s.url);
    await s.token('admin');
    await fc.assert(
      fc.asyncProperty(body, async (raw) => {
        const type = raw.includes(Buffer.from('"Basic"')) ? 'Basic' : 'Patient';
        const write = s.call(`/fhir/${type}`, { method: 'POST', body: raw });
        await healthz.sample();
        const res = await write;
        expect(res.status).toBeLessThan(500);
        const text = await res.text();
        if (res.status === 201) {
          const created = JSON.parse(text) as { id: string };
          const stored = await (await s.call(`/fhir/${type}/${created.id}`)).text();
          expect(JSON.parse(stored)).toEqual(JSON.parse(text));
        } else {
          expect((JSON.parse(text) as { resourceType: string }).resourceType).toBe('OperationOutcome');
        }
      }),
      { numRuns: 60 },
    );
    healthz.assertResponsive();
  });
});
