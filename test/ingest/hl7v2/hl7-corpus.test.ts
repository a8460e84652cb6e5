// The whole public HL7 v2 corpus (test/fixtures/hl7v2, real messages from interface engines and
// public-health labs; see its README for sources and licences) replayed as a hospital's interface
// engine would send it, one message per request and per MLLP frame, for patients who are not
// enrolled: every message with a header the adapter supports is answered AA (nothing of it is
// the trial's, so nothing in it may be refused), any other is answered AR naming its own header
// field, never AE, and nothing is stored. Frames that cannot be parsed are answered AR too.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { join, relative } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../support/enroll.ts';
import { oru, PLT } from '../../support/hl7-messages.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'hl7v2');
const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

interface CorpusMessage {
  name: string;
  text: string;
  /** Read by the test itself from MSH: what the adapter supports (ORU^R01, 2.3–2.8, P/T/D, MSH-10). */
  supported: boolean;
  controlId: string;
}

function files(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) return files(p);
      return /\.(hl7|er7)$/.test(f) ? [p] : [];
    });
}

/** One message per MSH, as an interface engine sends a file's messages (batch envelopes dropped). */
function corpus(): CorpusMessage[] {
  const out: CorpusMessage[] = [];
  for (const file of files(FIXTURES)) {
    const segments = readFileSync(file, 'utf8')
      .replace(/^\uFEFF/, '')
      .split(/\r\n|\r|\n/)
      .filter((s) => s.trim() !== '' && !/^(FHS|BHS|BTS|FTS)\|/.test(s));
    const starts = segments.flatMap((s, i) => (s.startsWith('MSH') ? [i] : []));
    starts.forEach((start, n) => {
      const lines = segments.slice(start, starts[n + 1] ?? segments.length);
      const msh = (lines[0] as string).split('|');
      const type = (msh[8] ?? '').split('^');
      const supported =
        type[0] === 'ORU' &&
        type[1] === 'R01' &&
        /^2\.[3-8](\.\d)?$/.test((msh[11] ?? '').split('^')[0] ?? '') &&
        ['P', 'T', 'D'].includes((msh[10] ?? '').split('^')[0] ?? '') &&
        (msh[9] ?? '') !== '';
      out.push({
        name: `${relative(FIXTURES, file)}${starts.length > 1 ? `#${n + 1}` : ''}`,
        text: lines.join('\r'),
        supported,
        controlId: msh[9] ?? '',
      });
    });
  }
  return out;
}

function msa(ack: string): string[] {
  return (ack.split(/\r\n|\r|\n/).find((s) => s.startsWith('MSA|')) ?? '').split('|');
}

/** Sends frames on one MLLP connection and collects as many ACKs, in order. */
function mllpExchange(port: number, frames: Buffer[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const acks: string[] = [];
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${acks.length} of ${frames.length} ACKs arrived`));
    }, 60_000);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let end = buffer.indexOf(FS); end >= 0; end = buffer.indexOf(FS)) {
        const start = buffer.indexOf(VT);
        acks.push(buffer.subarray(start + 1, end).toString('utf8'));
        buffer = buffer.subarray(end + 2);
      }
      if (acks.length === frames.length) {
        clearTimeout(timer);
        socket.end();
        resolve(acks);
      }
    });
    socket.on('error', reject);
    socket.on('connect', () => {
      for (const f of frames) socket.write(Buffer.concat([Buffer.of(VT), f, Buffer.of(FS, CR)]));
    });
  });
}

describe('the public HL7 v2 corpus, replayed for patients who are not enrolled', () => {
  let s: TestService;
  const messages = corpus();
  const send = async (text: string): Promise<string> => {
    const r = await s.call('/hl7v2', {
      method: 'POST',
      role: 'ehr-feed',
      headers: { 'content-type': 'x-application/hl7-v2+er7' },
      body: text,
    });
    expect(r.status).toBe(200);
    return r.text();
  };
  const count = async (type: string) => ((await (await s.call(`/fhir/${type}?_summary=count`)).json()) as Bundle).total;

  beforeAll(async () => {
    s = await startTestService({ HL7_MLLP_PORT: '0' });
    // Someone is enrolled (the routing has a cohort to look in), but no patient of the corpus.
    await enroll(s, 'corpus-enrolled', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      identifier: { system: 'urn:oid:1.2.156.112606.1.2.2', value: 'KHE-CORPUS-1' },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('holds the corpus: 69 messages, 39 of them ORU^R01 the adapter supports', () => {
    expect(messages).toHaveLength(69);
    expect(messages.filter((m) => m.supported)).toHaveLength(39);
  });

  it('answers every supported message AA and every other AR for its own header, never AE (HTTP)', async () => {
    const answers: string[] = [];
    const acks: string[] = [];
    for (const m of messages) {
      const ack = await send(m.text);
      acks.push(ack);
      answers.push(`${m.name}: ${msa(ack)[1]}`);
    }
    // Every AE first, so a regression names all the messages it refuses at once.
    expect(answers.filter((a) => a.endsWith('AE'))).toEqual([]);
    messages.forEach((m, i) => {
      const ack = acks[i] as string;
      const [, code, controlId] = msa(ack);
      expect(controlId, m.name).toBe(m.controlId);
      if (m.supported) expect(code, `${m.name}\n${ack}`).toBe('AA');
      else {
        expect(code, `${m.name}\n${ack}`).toBe('AR');
        expect(ack, m.name).toMatch(/^ERR\|\|MSH\^1\^(9|11|12)\|/m);
      }
    });
    // Nothing of a patient outside the trial is kept: no result, no Provenance, no dead letter.
    expect(await count('Observation')).toBe(0);
    expect(await count('Provenance')).toBe(0);
    const letters = (await (await s.call('/admin/dead-letters')).json()) as { deadLetters: unknown[] };
    expect(letters.deadLetters).toEqual([]);
  });

  it('answers the same over MLLP, in order, on one connection', async () => {
    const port = s.service.mllpPort as number;
    // Already applied over HTTP: the supported ones are repeats now, acknowledged AA again.
    const acks = await mllpExchange(
      port,
      messages.map((m) => Buffer.from(m.text, 'utf8')),
    );
    acks.forEach((ack, i) => {
      const m = messages[i] as CorpusMessage;
      expect(msa(ack)[2], m.name).toBe(m.controlId);
      expect(msa(ack)[1], `${m.name}\n${ack}`).toBe(m.supported ? 'AA' : 'AR');
    });
  });

  describe('frames that cannot be parsed are answered AR, not left unanswered', () => {
    const frames: [string, string, string][] = [
      // What the answer's MSA-2 must echo: MSH-10 when it can be read, else nothing.
      ['not HL7 at all', 'hello, is this the lab?', ''],
      ['an empty frame', '', ''],
      ['segments before MSH', 'PID|1||X^^^H^MR\rMSH|^~\\&|LIS|H|KHE|T|20220101||ORU^R01|C-1|P|2.5.1', 'C-1'],
      ['a header cut short after MSH-10', 'MSH|^~\\&|LIS|LAB|KHE|TRIAL|20220412||ORU^R01|CUT-10', 'CUT-10'],
      ['a header with no field separator after MSH', 'MSH', ''],
      ['binary noise', '\u0000\u0001\u0002MSH\u0003', ''],
      [
        'a batch envelope around the message',
        'FHS|^~\\&|LAB\rBHS|^~\\&|LAB\rMSH|^~\\&|LIS|H|KHE|T|20220101||ORU^R01|B-7|P|2.5.1\rBTS|1\rFTS|1',
        'B-7',
      ],
    ];
    it.each(frames)('%s (HTTP)', async (_name, text, controlId) => {
      const ack = await send(text);
      expect(ack.startsWith('MSH|^~\\&|')).toBe(true);
      expect(msa(ack)[1]).toBe('AR');
      expect(msa(ack)[2]).toBe(controlId);
    });
    it('all of them over MLLP, on one connection', async () => {
      const acks = await mllpExchange(
        s.service.mllpPort as number,
        frames.map(([, text]) => Buffer.from(text, 'utf8')),
      );
      acks.forEach((ack, i) => {
        expect(ack.startsWith('MSH|^~\\&|'), frames[i]?.[0]).toBe(true);
        expect(msa(ack)[1], frames[i]?.[0]).toBe('AR');
        expect(msa(ack)[2], frames[i]?.[0]).toBe(frames[i]?.[2]);
      });
    });
  });

  describe('relevance first: only a result the trial keeps is refused for what it cannot map', () => {
    // Written for the tests: the enrolled child's platelets (a study measure, local code) and a
    // haemoglobin no study measures, as an ED (embedded PDF) or with a status that carries no result.
    const PDF = '^application^pdf^Base64^JVBERi0xLjQK';
    const edPlt = `OBX|1|ED|PLT^Platelets^99WCH||${PDF}||||||F|||20220412074000+0800`;
    const edHgb = `OBX|2|ED|HGB^Hemoglobin^99WCH||${PDF}||||||F|||20220412074000+0800`;
    const tmPlt = 'OBX|1|TM|PLT^Platelets^99WCH||0830||||||F|||20220412074000+0800';
    const code = async (text: string) => msa(await send(text))[1];

    it('an unmapped value type in a kept result is AE, naming OBX-2', async () => {
      const ack = await send(oru('REL-1', [edPlt], { mrn: 'KHE-CORPUS-1', filler: 'REL1' }));
      expect(msa(ack)[1]).toBe('AE');
      expect(ack).toMatch(/^ERR\|\|OBX\^1\^2\|/m);
      expect(await code(oru('REL-2', [tmPlt], { mrn: 'KHE-CORPUS-1', filler: 'REL2' }))).toBe('AE');
      expect(await code(oru('REL-3', [PLT('45', 'U')], { mrn: 'KHE-CORPUS-1', filler: 'REL3' }))).toBe('AE');
    });

    it('the same for a patient who is not enrolled, or in a test no study measures, is AA', async () => {
      expect(await code(oru('REL-4', [edPlt, tmPlt], { mrn: 'NOT-ENROLLED', filler: 'REL4' }))).toBe('AA');
      expect(await code(oru('REL-5', [PLT('45', 'U')], { mrn: 'NOT-ENROLLED', filler: 'REL5' }))).toBe('AA');
      expect(await code(oru('REL-6', [edHgb], { mrn: 'KHE-CORPUS-1', filler: 'REL6' }))).toBe('AA');
    });

    it('an OBX with no result yet (OBX-11 I, O, N) is no refusal and stores nothing', async () => {
      const before = await count('Observation');
      for (const [i, status] of ['I', 'O', 'N'].entries()) {
        const text = oru(`REL-7${i}`, [PLT('', status)], { mrn: 'KHE-CORPUS-1', filler: `REL7${i}` });
        expect(await code(text), status).toBe('AA');
      }
      expect(await count('Observation')).toBe(before);
    });

    it('a kept result next to ones the trial does not keep is applied', async () => {
      const ack = await send(oru('REL-8', [PLT('45'), edHgb], { mrn: 'KHE-CORPUS-1', filler: 'REL8' }));
      expect(msa(ack)[1]).toBe('AA');
      const kept = (await (
        await s.call(
          '/fhir/Observation?_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record&_summary=count',
        )
      ).json()) as Bundle;
      expect(kept.total).toBe(1);
    });

    it('no patient identifier refuses a message only when it carries a result a study measures', async () => {
      const noPid = (control: string, obx: string) =>
        oru(control, [obx], { filler: control }).replace(/^PID\|1\|\|[^|]*\|/m, 'PID|1|||');
      const refused = await send(noPid('REL-9', PLT('45')));
      expect(msa(refused)[1]).toBe('AE');
      expect(refused).toMatch(/^ERR\|\|PID\^1\^3\|/m);
      expect(await code(noPid('REL-10', edHgb))).toBe('AA');
    });
  });
});
