/**
 * Property-based: whatever combination of search parameters a client sends (names, modifiers,
 * prefixes, values with odd characters or broken percent-encoding, repeats), the service answers a
 * Bundle or an OperationOutcome, never a 5xx, and /healthz stays fast while it works.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../support/enroll.ts';
import { healthzProbe } from '../../support/healthz-probe.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const types = fc.constantFrom('Observation', 'Patient', 'ResearchSubject', 'Encounter', 'Provenance', 'Nonsense');
const names = fc.oneof(
  fc.constantFrom(
    'code',
    'subject',
    'patient',
    'date',
    'value-quantity',
    'status',
    'identifier',
    'name',
    'family',
    'birthdate',
    'study',
    'visit',
    'research-subject',
    'combo-code-value-quantity',
    '_id',
    '_lastUpdated',
    '_tag',
    '_profile',
    '_has:Observation:patient:code',
    '_include',
    '_revinclude',
    '_sort',
    '_count',
    '_elements',
    '_summary',
    '_total',
    '_text',
    '_cursor',
    '_format',
  ),
  fc.string({ maxLength: 6 }),
);
const modifiers = fc.oneof(
  fc.constantFrom('', '', ':exact', ':contains', ':missing', ':not', ':text', ':above', ':below', ':in', ':Patient'),
  fc.constantFrom(':of-type', ':identifier', ':iterate', ':ResearchStudy', ':'),
  fc.string({ maxLength: 4 }).map((m) => `:${m}`),
);
const prefixes = fc.constantFrom('', '', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'zz');
const bases = fc.oneof(
  fc.constantFrom('2022-04-12', '2022', '2022-13-45', '2022-04-12T07:40:00+08:00', '2022-04-12T25:00', 'T'),
  fc.constantFrom('45', '-1', '1e400', 'NaN', '0.0000001', '99999999999999999999', '-0', '.5', '5.'),
  fc.constantFrom('http://loinc.org|777-3', '|x', 'x|', '|', 'a|b|c', '5.4|http://unitsofmeasure.org|mg', '5||ng/mL'),
  fc.constantFrom(
    'Patient/khe-prop',
    'Patient/',
    'http://x/Patient/1',
    'ResearchStudy/nct04775173',
    'Observation:subject',
  ),
  fc.constantFrom('true', 'false', 'final,amended', 'a\\,b', ',', ',,', '*', 'Observation:*', '-date,_id', 'count'),
  fc.constantFrom("'; drop table x; --", '\u0000', 'é', '\uD800', '\\', '$', '%', '%zz', '%C3', '%25', '+', '&', '='),
  fc.string({ maxLength: 10, unit: 'binary' }),
);
const value = fc.tuple(prefixes, fc.array(bases, { minLength: 1, maxLength: 3 })).map(([p, v]) => `${p}${v.join(',')}`);

/** Percent-encodes every UTF-8 byte, except that a value may carry a raw, possibly broken, escape. */
function encode(s: string): string {
  if (/^%[0-9A-Za-z]{0,2}$/.test(s)) return s;
  return [...Buffer.from(s, 'utf8')]
    .map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16)}`))
    .join('');
}

const query = fc
  .array(fc.tuple(names, modifiers, value), { minLength: 1, maxLength: 6 })
  .chain((params) =>
    // A repeat of the first parameter, as clients AND two conditions on one parameter.
    fc.boolean().map((repeat) => (repeat ? [...params, params[0] as (typeof params)[number]] : params)),
  )
  .map((params) => params.map(([n, m, v]) => `${encode(n + m)}=${encode(v)}`).join('&'));

describe('search parameters, property-based', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    await enroll(s, 'khe-prop', { start: '2022-01-10' });
    const res = await s.call('/fhir/Observation', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
        subject: { reference: 'Patient/khe-prop' },
        effectiveDateTime: '2022-04-12T07:40:00+08:00',
        valueQuantity: { value: 45, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
      }),
    });
    expect(res.status).toBe(201);
    await s.token('admin');
  });
  afterAll(async () => {
    await s.stop();
  });

  it('never 5xx, always a Bundle or an OperationOutcome, and /healthz answering meanwhile (median under 100 ms, never blocked)', async () => {
    const healthz = healthzProbe(s.url);
    await fc.assert(
      fc.asyncProperty(types, query, async (type, q) => {
        const search = s.call(`/fhir/${type}?${q}`);
        await healthz.sample();
        const res = await search;
        const text = await res.text();
        expect(res.status, `${type}?${q}: ${text.slice(0, 300)}`).toBeLessThan(500);
        const body = JSON.parse(text) as { resourceType: string };
        expect(['Bundle', 'OperationOutcome']).toContain(body.resourceType);
        if (res.status === 200) expect(body.resourceType).toBe('Bundle');
      }),
      { numRuns: 150 },
    );
    healthz.assertResponsive();
  });
});
