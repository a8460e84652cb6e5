// HL7 v2 ORU^R01 through POST /hl7v2. Messages for sirolimus, fibrinogen and platelets with local
// codes and non-UCUM units are WRITTEN FOR THE TESTS; the NIST CBC message and the other ORU^R01
// files are real public messages from test/fixtures/hl7v2/ (a copy of ../shared/corpus/hl7v2/).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Observation, Provenance } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../support/enroll.ts';
import { FIB, oru, PLT, RAPA } from '../../support/hl7-messages.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

// The public corpus as copied into the repository (sources and licences in its README).
const CORPUS = join(import.meta.dirname, '..', '..', 'fixtures', 'hl7v2');
const TAG = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';

const HGB = 'OBX|4|NM|HGB^Hemoglobin^99WCH||10.1|g/dL^^UCUM|11-15|L|||F|||20220412074000+0800';

function msa(ack: string): string[] {
  return (ack.split(/\r\n|\r|\n/).find((s) => s.startsWith('MSA|')) ?? '').split('|');
}
function err(ack: string): string[] {
  return ack.split(/\r\n|\r|\n/).filter((s) => s.startsWith('ERR|'));
}

describe('HL7 v2 ORU^R01 over HTTP into the ingest path', () => {
  let s: TestService;
  let subjectId: string;
  const send = async (
    text: string,
    role: 'ehr-feed' | 'research' | 'none' = 'ehr-feed',
    type = 'x-application/hl7-v2+er7',
  ) => s.call('/hl7v2', { method: 'POST', role, headers: { 'content-type': type }, body: text });
  const ack = async (text: string) => {
    const r = await send(text);
    expect(r.status).toBe(200);
    return r.text();
  };
  const records = async () =>
    (
      (await (
        await s.call(`/fhir/Observation?_tag=${TAG}&research-subject=ResearchSubject/${subjectId}&_count=100`)
      ).json()) as Bundle<Observation>
    ).entry?.map((e) => e.resource as Observation) ?? [];
  const count = async (type: string) => ((await (await s.call(`/fhir/${type}?_summary=count`)).json()) as Bundle).total;

  beforeAll(async () => {
    s = await startTestService();
    subjectId = await enroll(s, 'khe-031', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      identifier: { system: 'urn:oid:1.2.156.112606.1.2.2', value: 'KHE-031' },
    });
    await enroll(s, 'nist-1', {
      birthDate: '2015-06-15',
      start: '2010-12-20',
      identifier: { system: 'urn:oid:2.16.840.1.113883.3.72.5.30.2', value: 'PATID1234' },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('applies a lab message: AA, local codes through the ConceptMap, units converted, a Provenance of the message', async () => {
    const a = await ack(oru('MSG0001', [PLT('45'), FIB('180'), RAPA('8.8'), HGB]));
    expect(msa(a).slice(1, 3)).toEqual(['AA', 'MSG0001']);
    const r = await records();
    const byMeasure = Object.fromEntries(
      r.map((o) => [o.code?.coding?.find((c) => c.system?.endsWith('trial-measure'))?.code, o]),
    );
    expect(byMeasure.platelets?.valueQuantity).toMatchObject({ value: 45, code: '10*9/L' });
    expect(byMeasure.fibrinogen?.valueQuantity).toMatchObject({ value: 1.8, code: 'g/L' });
    expect(byMeasure['sirolimus-trough']?.valueQuantity).toMatchObject({ value: 8.8, code: 'ng/mL' });
    expect(byMeasure.platelets?.effectiveDateTime).toBe('2022-04-12T07:40:00+08:00');
    expect(r).toHaveLength(3);
    const prov = (await (await s.call('/fhir/Provenance?_count=10')).json()) as Bundle<Provenance>;
    const p = prov.entry
      ?.map((e) => e.resource as Provenance)
      .find((x) => x.entity?.[0]?.what?.identifier?.value === 'MSG0001');
    expect(p?.target).toHaveLength(3);
    expect(p?.agent?.[0]?.who?.display).toContain('WCH');
  });

  it('acknowledges the same message again without applying it twice', async () => {
    const before = await count('Observation');
    const a = await ack(oru('MSG0001', [PLT('45'), FIB('180'), RAPA('8.8'), HGB]));
    expect(msa(a)[1]).toBe('AA');
    expect(await count('Observation')).toBe(before);
  });

  it('follows a correction (OBX-11 C) and a retraction (OBX-11 D) like the FHIR path', async () => {
    expect(msa(await ack(oru('MSG0002', [FIB('150', 'C')], { time: '20220413093000+0800' })))[1]).toBe('AA');
    expect(msa(await ack(oru('MSG0003', [RAPA('8.8', 'D')], { time: '20220414093000+0800' })))[1]).toBe('AA');
    const r = await records();
    const fib = r.find((o) => o.code?.coding?.some((c) => c.code === 'fibrinogen'));
    expect([fib?.status, fib?.valueQuantity?.value, fib?.meta?.versionId]).toEqual(['corrected', 1.5, '2']);
    const rapa = r.find((o) => o.code?.coding?.some((c) => c.code === 'sirolimus-trough'));
    expect(rapa?.status).toBe('entered-in-error');
  });

  it('reads a time without an offset in the site time zone, and keeps one that has an offset', async () => {
    expect(msa(await ack(oru('MSG0004', [RAPA('9.1', 'F', '20220420071500')], { filler: 'FIL4' })))[1]).toBe('AA');
    expect(msa(await ack(oru('MSG0005', [RAPA('9.2', 'F', '20220421071500-0500')], { filler: 'FIL5' })))[1]).toBe('AA');
    const troughs = (await records()).filter(
      (o) => o.code?.coding?.some((c) => c.code === 'sirolimus-trough') && o.status === 'final',
    );
    expect(troughs.map((o) => o.effectiveDateTime).sort()).toEqual([
      '2022-04-20T07:15:00+08:00',
      '2022-04-21T07:15:00-05:00',
    ]);
  });

  it.each([
    ['an unknown unit', oru('MSG0100', [PLT('45', 'F', 'bananas')]), 'OBX^1^6'],
    ['a value that is not a number', oru('MSG0101', [PLT('forty')]), 'OBX^1^5'],
    ['an unknown result status', oru('MSG0102', [PLT('45', 'Q')]), 'OBX^1^11'],
  ])('answers AE naming the segment and field for %s, and stores nothing', async (_n, text, location) => {
    const before = await count('Observation');
    const a = await ack(text);
    expect(msa(a)[1]).toBe('AE');
    expect(err(a).join('\n')).toContain(location);
    expect(await count('Observation')).toBe(before);
  });

  it.each([
    ['an unsupported message type', oru('MSG0200', [PLT('45')], { type: 'ADT^A01^ADT_A01' })],
    ['an unsupported version', oru('MSG0201', [PLT('45')], { version: '2.1' })],
    ['text that is not HL7', 'hello, this is not a message'],
    ['a message without MSH', 'PID|1||X^^^WCH^MR'],
  ])('answers AR to %s', async (_n, text) => {
    expect(msa(await ack(text))[1]).toBe('AR');
  });

  it('keeps nothing of a patient who is not enrolled, answers AA, and writes no Provenance', async () => {
    const obs = await count('Observation');
    const prov = await count('Provenance');
    // Its own order: the same filler order and test for another patient is a correction of that
    // result (see the wrong-patient test below).
    const a = await ack(oru('MSG0300', [PLT('45'), RAPA('8.8')], { mrn: 'NOT-ENROLLED', filler: 'FIL300' }));
    expect(msa(a)[1]).toBe('AA');
    expect(await count('Observation')).toBe(obs);
    expect(await count('Provenance')).toBe(prov);
  });

  it('takes the NIST CBC message: the platelet count ({cells}/uL) becomes a trial record in 10*9/L', async () => {
    const text = readFileSync(join(CORPUS, 'microsoft-fhir-converter', 'LRI_2.0-NG_CBC_Typ_Message.hl7'), 'utf8');
    const a = await ack(text);
    expect(msa(a).slice(1, 3)).toEqual(['AA', 'NIST-LRI-NG-002.00']);
    const b = (await (
      await s.call(
        `/fhir/Observation?_tag=${TAG}&code=https://khe-trial.example.org/fhir/CodeSystem/trial-measure|platelets`,
      )
    ).json()) as Bundle<Observation>;
    const rec = b.entry?.map((e) => e.resource as Observation).find((o) => o.subject?.reference === 'Patient/nist-1');
    expect(rec?.valueQuantity).toMatchObject({ value: 210, code: '10*9/L' });
    expect(rec?.effectiveDateTime).toBe('2011-01-03T14:34:28-08:00');
  });

  it('answers every ORU^R01 message of the corpus with an ACK echoing its control id, never an error status', async () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(hl7|er7)$/.test(n)) files.push(p);
      }
    };
    walk(CORPUS);
    let oruCount = 0;
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      const r = await send(text);
      expect(r.status, f).toBe(200);
      const a = await r.text();
      expect(['AA', 'AE', 'AR'], f).toContain(msa(a)[1]);
      const control = /^\uFEFF?MSH\|[^\r\n]*/.exec(text)?.[0]?.split('|')[9];
      if (/ORU\^R01/.test(text.split(/\r|\n/)[0] ?? '')) {
        oruCount++;
        expect(msa(a)[2], f).toBe(control);
      }
    }
    expect(oruCount).toBeGreaterThan(5);
  });

  it('is for the ehr-feed role, in HL7 media types', async () => {
    expect((await send(oru('MSG0400', [PLT('45')]), 'research')).status).toBe(403);
    expect((await send(oru('MSG0401', [PLT('45')]), 'none')).status).toBe(401);
    expect((await send(oru('MSG0402', [PLT('45')]), 'ehr-feed', 'application/json')).status).toBe(415);
    expect((await send(oru('MSG0403', [PLT('45')]), 'ehr-feed', 'text/plain')).status).toBe(200);
  });

  it('withdraws a result the lab re-sends for a patient who is not enrolled (a wrong-patient correction)', async () => {
    expect(msa(await ack(oru('MSG0500', [PLT('61')], { filler: 'FIL500' })))[1]).toBe('AA');
    const records = async () =>
      (
        (await (
          await s.call(`/fhir/Observation?_tag=${TAG}&research-subject=ResearchSubject/${subjectId}&_count=100`)
        ).json()) as Bundle<Observation>
      ).entry
        ?.map((e) => e.resource as Observation)
        .filter((o) => o.extension?.some((x) => x.valueQuantity?.value === 61));
    expect((await records())?.map((o) => o.status)).toEqual(['final']);
    const moved = await ack(oru('MSG0501', [PLT('61')], { filler: 'FIL500', mrn: 'NOT-ENROLLED' }));
    expect(msa(moved)[1]).toBe('AA');
    expect((await records())?.map((o) => o.status)).toEqual(['entered-in-error']);
  });
});
