/**
 * Property-based: whatever HL7 v2 text an EHR sends through POST /hl7v2 (segments in any order,
 * extra or empty ones, escapes, units, statuses, separators, line endings, a message cut anywhere),
 * the answer is a 200 with an AA, AE or AR ACK, never a 5xx; /healthz stays fast meanwhile; and
 * what is stored matches the ACK: an AE or AR stores nothing, an AA stores each trial result it had.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../support/enroll.ts';
import { healthzProbe } from '../../support/healthz-probe.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const TAG = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';
const MRN = 'KHE-PBT';
// The OBX-3 of the study measures this site sends (mappings/concept-maps), each at most once per message.
const TESTS = ['PLT^Platelets^99WCH', 'FIB^Fibrinogen^99WCH', 'RAPA^Sirolimus trough^99WCH'] as const;

const values = fc.oneof(
  fc.constantFrom('45', '8.8', '180', '0', '-45', '1e400', 'Infinity', 'NaN', '', ' 45 ', '4.5E2', '1,5', '45^'),
  fc.constantFrom('12\\E\\3', '\\S\\', '12\\X41\\', '4\\.br\\5', '\\F\\', '\\T\\9', '99999999999999999999'),
  fc.string({ maxLength: 6, unit: 'binary' }),
);
/** Mostly what a lab sends; sometimes something odd, so that both AA and AE/AR occur. */
const mostly = <T>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: usual, weight: 5 }, { arbitrary: odd, weight: 1 });
const UNITS: Record<(typeof TESTS)[number], string[]> = {
  'PLT^Platelets^99WCH': ['x10\\S\\9/L^^L', '10*9/L^^UCUM', '/uL^^UCUM'],
  'FIB^Fibrinogen^99WCH': ['mg/dL^^UCUM', 'g/L^^UCUM'],
  'RAPA^Sirolimus trough^99WCH': ['ug/L^^UCUM', 'ng/mL^^UCUM', 'nmol/L^^UCUM'],
};
const oddUnits = fc.constantFrom('bananas^^L', '', '\\X00\\', 'mg^^UCUM', '10*9/L');
const statuses = mostly(fc.constantFrom('F', 'P', 'C', 'A'), fc.constantFrom('Q', '', 'FF', 'D'));
const valueTypes = mostly(fc.constant('NM'), fc.constantFrom('ST', 'SN', 'CE', 'ZZ', ''));
const obx = fc
  .constantFrom(...TESTS)
  .chain((code) =>
    fc
      .tuple(
        valueTypes,
        mostly(fc.constantFrom('45', '8.8', '180', '12.5'), values),
        mostly(fc.constantFrom(...UNITS[code]), oddUnits),
        statuses,
      )
      .map(([vt, v, u, st]) => ({ code, text: `|${vt}|${code}||${v}|${u}|5-15|N|||${st}|||20220412074000+0800` })),
  );
const extra = fc.oneof(
  fc.constantFrom('NTE|1||a comment \\T\\ with & marks', 'ZXX|1|local|', 'OBX|', 'OBX|9|NM', 'PID|', 'MSH|^~\\&|X'),
  fc.string({ maxLength: 20, unit: 'binary' }),
);

const message = fc.record({
  encoding: mostly(fc.constant('^~\\&'), fc.constantFrom('^~\\&#', '^~\\')),
  version: mostly(fc.constantFrom('2.5.1', '2.3', '2.8'), fc.constantFrom('2.1', '')),
  type: mostly(fc.constantFrom('ORU^R01^ORU_R01', 'ORU^R01'), fc.constantFrom('ADT^A01', '')),
  mrn: mostly(fc.constant(MRN), fc.constantFrom('NOT-ENROLLED', '')),
  results: fc.uniqueArray(obx, { maxLength: 3, selector: (o) => o.code }),
  extras: fc.oneof({ arbitrary: fc.constant([]), weight: 2 }, fc.array(fc.tuple(fc.nat(6), extra), { maxLength: 2 })),
  eol: fc.constantFrom('\r', '\n', '\r\n'),
  cut: fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, fc.nat()),
});

type Message = typeof message extends fc.Arbitrary<infer T> ? T : never;

/** Control id and filler are placeholders, unique per send so that no send repeats an earlier one. */
function render(m: Message): string {
  const segments = [
    `MSH|${m.encoding}|LIS|WCH|KHE|TRIAL|20220412093000+0800||${m.type}|@CONTROL@|P|${m.version}`,
    `PID|1||${m.mrn}^^^WCH^MR||Test^Child||20190301|F`,
    'OBR|1|ORD1|@FILLER@|58410-2^CBC^LN|||20220412074000+0800',
    ...m.results.map((r, i) => `OBX|${i + 1}${r.text}`),
  ];
  for (const [at, seg] of m.extras) segments.splice(Math.min(at, segments.length), 0, seg);
  const text = segments.join(m.eol);
  return m.cut === undefined ? text : text.slice(0, m.cut % (text.length + 1));
}

/**
 * The trial results an applied message must have stored: its OBX segments (as they survived a cut)
 * that still name a study test, for the enrolled patient. A message is AA'd only if each of them
 * was usable, so each is one new trial record.
 */
function expectedRecords(text: string): number {
  const segs = text.split(/\r\n|\r|\n/);
  const pid = segs.find((s) => s.startsWith('PID|'))?.split('|')[3];
  if (pid !== `${MRN}^^^WCH^MR`) return 0;
  return segs.filter((s) => s.startsWith('OBX|') && (TESTS as readonly string[]).includes(s.split('|')[3] ?? ''))
    .length;
}

describe('HL7 v2 messages, property-based', () => {
  let s: TestService;
  let sent = 0;
  let appliedResults = 0;
  const count = async (query: string) =>
    (
      (await (await s.call(`/fhir/${query}${query.includes('?') ? '&' : '?'}_summary=count`)).json()) as {
        total: number;
      }
    ).total;
  beforeAll(async () => {
    s = await startTestService();
    await enroll(s, 'khe-pbt', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      identifier: { system: 'urn:oid:1.2.156.112606.1.2.2', value: MRN },
    });
    await s.token('ehr-feed');
    await s.token('admin');
  });
  afterAll(async () => {
    await s.stop();
  });

  it('always an ACK (never a 5xx), /healthz answering meanwhile (median under 100 ms, never blocked), and the store agrees with the ACK', async () => {
    const healthz = healthzProbe(s.url);
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        sent++;
        const text = render(m).replace('@CONTROL@', `PBT${sent}`).replace('@FILLER@', `FILPBT${sent}`);
        const records = () => count(`Observation?_tag=${TAG}&patient=khe-pbt`);
        const before = { records: await records(), all: await count('Observation'), prov: await count('Provenance') };
        const post = s.call('/hl7v2', {
          method: 'POST',
          role: 'ehr-feed',
          headers: { 'content-type': 'x-application/hl7-v2+er7' },
          body: text,
        });
        await healthz.sample();
        const res = await post;
        const ack = await res.text();
        expect(res.status, `${JSON.stringify(text)} -> ${ack}`).toBe(200);
        const code = ack
          .split(/\r\n|\r|\n/)
          .find((l) => l.startsWith('MSA|'))
          ?.split('|')[1];
        expect(['AA', 'AE', 'AR'], ack).toContain(code);
        const after = { records: await records(), all: await count('Observation'), prov: await count('Provenance') };
        if (code === 'AA') {
          expect(after.records - before.records, `${JSON.stringify(text)} -> ${ack}`).toBe(expectedRecords(text));
          appliedResults += expectedRecords(text);
        } else {
          expect(after, `${JSON.stringify(text)} -> ${ack}`).toEqual(before);
        }
      }),
      { numRuns: 80 },
    );
    // Not vacuous: some messages were applied with results to compare.
    expect(appliedResults).toBeGreaterThan(0);
    healthz.assertResponsive();
  });
});
