// HL7 v2 over MLLP under hostile senders: oversized and slow-to-end messages, and where the listener
// binds (messages WRITTEN FOR THE TESTS).
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MllpFramer } from '../../../src/ingest/hl7v2/mllp-framer.ts';
import { enroll } from '../../support/enroll.ts';
import { oru, PLT } from '../../support/hl7-messages.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
const frame = (text: string): Buffer => Buffer.concat([Buffer.of(VT), Buffer.from(text, 'utf8'), Buffer.of(FS, CR)]);

/** Sends `chunks` (awaiting each write), collects what comes back until the server closes or `waitMs`. */
function exchange(
  port: number,
  chunks: Iterable<Buffer>,
  waitMs: number,
): Promise<{ reply: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    let closedByServer = false;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      socket.destroy();
      resolve({ reply, closedByServer });
    };
    socket.on('data', (d) => {
      reply += d.toString('utf8');
    });
    socket.on('end', () => {
      closedByServer = true;
      done();
    });
    socket.on('error', () => {
      closedByServer = true;
      done();
    });
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) break;
        if (!socket.write(c)) await new Promise((r) => socket.once('drain', r));
      }
    });
    setTimeout(done, waitMs);
  });
}

describe('MLLP framing', () => {
  const text = oru('FR-1', [PLT('45')]);

  it('finds the same messages however the stream is cut, FS+CR split across chunks included', () => {
    const stream = Buffer.concat([Buffer.from('noise'), frame(text), frame('MSH|a\x1cb'), Buffer.from('\r\n')]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const f = new MllpFramer(1 << 20);
      const got = [stream.subarray(0, cut), stream.subarray(cut)].flatMap((c) => {
        const r = f.push(c);
        expect(r.kind).toBe('messages');
        return r.messages.map((m) => m.toString('utf8'));
      });
      expect(got, `cut at ${cut}`).toEqual([text, 'MSH|a\x1cb']);
    }
  });

  it('reports a message past the limit once, with its head for the AR', () => {
    const f = new MllpFramer(100);
    const big = `MSH|^~\\&|LIS|WCH|||20220101||ORU^R01|BIG-1|P|2.5.1\r${'x'.repeat(200)}`;
    const r = f.push(Buffer.concat([frame(text.slice(0, 50)), Buffer.of(VT), Buffer.from(big)]));
    expect(r.kind).toBe('too-large');
    expect(r.messages.map((m) => m.toString())).toEqual([text.slice(0, 50)]);
    if (r.kind === 'too-large') expect(r.head.toString()).toMatch(/^MSH\|.*\|BIG-1\|/);
    expect(f.push(frame(text)).messages).toEqual([]);
  });

  it('receives in time linear in the message size (a 32 MB message in many small chunks)', () => {
    const f = new MllpFramer(64 * 1024 * 1024);
    const chunk = Buffer.alloc(16 * 1024, 'x'.charCodeAt(0));
    const started = performance.now();
    f.push(Buffer.from([VT]));
    for (let i = 0; i < 2048; i++) expect(f.push(chunk).messages).toHaveLength(0);
    const r = f.push(Buffer.of(FS, CR));
    expect(r.messages[0]?.length).toBe(32 * 1024 * 1024);
    // Rescanning the whole buffer per chunk took tens of seconds for this.
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});

describe('MLLP listener bounds', () => {
  let s: TestService;
  let port: number;
  beforeAll(async () => {
    s = await startTestService({ HL7_MLLP_PORT: '0', HL7_MLLP_MAX_MESSAGE_BYTES: '4096' });
    port = s.service.mllpPort as number;
    await enroll(s, 'mb-1', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      identifier: { system: 'urn:oid:1.2.156.112606.1.2.2', value: 'MB-1' },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('answers AR to a message over HL7_MLLP_MAX_MESSAGE_BYTES and closes, after acknowledging the ones before it', async () => {
    const ok = oru('MB-OK', [PLT('45')], { mrn: 'MB-1', filler: 'F-MB-OK' });
    const big = oru('MB-BIG', [PLT('46'), `NTE|1||${'y'.repeat(5000)}`], { mrn: 'MB-1', filler: 'F-MB-BIG' });
    const { reply, closedByServer } = await exchange(port, [frame(ok), frame(big)], 10_000);
    expect(reply).toContain('MSA|AA|MB-OK');
    expect(reply).toMatch(/MSA\|AR\|MB-BIG\|message larger than 4096 bytes/);
    expect(closedByServer).toBe(true);
    // Nothing of the refused message was stored; the accepted one was.
    const count = async (filler: string) =>
      ((await (await s.call(`/fhir/Observation?identifier=${filler}&_summary=count`)).json()) as { total: number })
        .total;
    expect(await count('F-MB-BIG')).toBe(0);
  });

  it('refuses an endless unterminated message early, and /healthz keeps answering meanwhile', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'z'.charCodeAt(0));
    function* endless(): Generator<Buffer> {
      yield Buffer.from(`\x0bMSH|^~\\&|LIS|WCH|||20220101||ORU^R01|MB-ENDLESS|P|2.5.1\r`);
      for (let i = 0; i < 512; i++) yield chunk; // 32 MB
    }
    let slowest = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const t = performance.now();
        await fetch(`${s.url}/healthz`);
        slowest = Math.max(slowest, performance.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const started = performance.now();
    const { reply, closedByServer } = await exchange(port, endless(), 30_000);
    polling = false;
    await poll;
    expect(reply).toMatch(/MSA\|AR\|MB-ENDLESS\|message larger than/);
    expect(closedByServer).toBe(true);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(slowest).toBeLessThan(1_000);
  }, 60_000);

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
  it.runIf(external !== undefined)('listens on loopback only by default (HL7_MLLP_HOST)', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = net.connect(port, external as string);
      socket.on('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(outcome).toBe('ECONNREFUSED');
  });
});
