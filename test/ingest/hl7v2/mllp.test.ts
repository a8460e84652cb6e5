// HL7 v2 over MLLP on a real socket, with @medplum/hl7's client (messages WRITTEN FOR THE TESTS).
import { createRequire } from 'node:module';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../support/enroll.ts';
import { FIB, oru, PLT, RAPA } from '../../support/hl7-messages.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

type WireMessage = Parameters<Hl7Client['sendAndWait']>[0];

/** @medplum/hl7 ships its own copy of @medplum/core: its client takes that copy's Hl7Message. */
async function wireParser(): Promise<(text: string) => WireMessage> {
  const hl7 = createRequire(import.meta.url).resolve('@medplum/hl7');
  const core = createRequire(hl7).resolve('@medplum/core');
  const mod = (await import(pathToFileURL(core).href)) as { Hl7Message: { parse(text: string): WireMessage } };
  return (text) => mod.Hl7Message.parse(text);
}

const VT = String.fromCharCode(0x0b);
const FS_CR = `${String.fromCharCode(0x1c)}\r`;

function rawExchange(port: number, payload: string, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => {
      data += d.toString('utf8');
    });
    socket.on('connect', () => socket.write(payload));
    const done = () => {
      socket.destroy();
      resolve(data);
    };
    socket.on('close', done);
    setTimeout(done, waitMs);
  });
}

describe('HL7 v2 over MLLP', () => {
  let s: TestService;
  let port: number;
  let parse: (text: string) => WireMessage;

  beforeAll(async () => {
    s = await startTestService({ HL7_MLLP_PORT: '0', HL7_MLLP_ALLOW_FACILITIES: 'WCH' });
    port = s.service.mllpPort as number;
    parse = await wireParser();
    await enroll(s, 'mllp-1', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      identifier: { system: 'urn:oid:1.2.156.112606.1.2.2', value: 'MLLP-1' },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('acknowledges several messages on one connection, in order, each after it is committed', async () => {
    const client = new Hl7Client({ host: '127.0.0.1', port });
    try {
      const acks: string[] = [];
      for (const [i, obx] of [[PLT('45')], [FIB('180')], [RAPA('8.8')], [PLT('x')]].entries()) {
        const ack = await client.sendAndWait(parse(oru(`MLLP-${i}`, obx, { mrn: 'MLLP-1', filler: `F${i}` })));
        const msa = ack.getSegment('MSA');
        acks.push(`${msa?.getField(1)?.toString()}:${msa?.getField(2)?.toString()}`);
      }
      expect(acks).toEqual(['AA:MLLP-0', 'AA:MLLP-1', 'AA:MLLP-2', 'AE:MLLP-3']);
      // Acknowledged means stored: the three results are there as trial records.
      const b = (await (
        await s.call(
          '/fhir/Observation?_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record&_summary=count',
        )
      ).json()) as { total: number };
      expect(b.total).toBe(3);
    } finally {
      await client.close();
    }
  });

  it('refuses a sending facility that is not allowed with AR', async () => {
    const client = new Hl7Client({ host: '127.0.0.1', port });
    try {
      const text = oru('MLLP-X', [PLT('45')], { mrn: 'MLLP-1' }).replace('|LIS|WCH|', '|LIS|OTHER|');
      const ack = await client.sendAndWait(parse(text));
      expect(ack.getSegment('MSA')?.getField(1)?.toString()).toBe('AR');
    } finally {
      await client.close();
    }
  });

  it('records each message in the audit trail before its ACK, with the sender, control id and outcome', async () => {
    const client = new Hl7Client({ host: '127.0.0.1', port });
    try {
      await client.sendAndWait(parse(oru('AUD-1', [PLT('44')], { mrn: 'MLLP-1', filler: 'F-AUD-1' })));
      await client.sendAndWait(parse(oru('AUD-2', [PLT('44')], { mrn: 'MLLP-1' }).replace('|LIS|WCH|', '|LIS|OTHER|')));
    } finally {
      await client.close();
    }
    // The ACKs came back, so both records are committed already.
    const b = (await (await s.call('/fhir/AuditEvent?subtype=transaction&_count=200')).json()) as Bundle<AuditEvent>;
    const byRequest = (id: string) =>
      b.entry
        ?.map((e) => e.resource as AuditEvent)
        .find((a) => a.entity?.some((x) => x.what?.identifier?.value === id));
    const accepted = byRequest('hl7v2:WCH|AUD-1');
    // Written in the transaction that applied the message: one record, not one more after it.
    const forAud1 = b.entry?.filter((e) =>
      (e.resource as AuditEvent).entity?.some((x) => x.what?.identifier?.value === 'hl7v2:WCH|AUD-1'),
    );
    expect(forAud1).toHaveLength(1);
    expect(accepted).toMatchObject({ action: 'E', outcome: '0' });
    expect(accepted?.agent?.[0]).toMatchObject({
      who: { identifier: { value: 'mllp' } },
      network: { address: '127.0.0.1' },
    });
    const refused = byRequest('hl7v2:OTHER|AUD-2');
    expect(refused?.outcome).toBe('4');
    expect(refused?.outcomeDesc).toMatch(/^ACK AR: sending facility OTHER is not allowed/);
  });

  it('survives a connection that drops mid-message, and serves the next one', async () => {
    const partial = `${VT}${oru('MLLP-DROP', [PLT('45')], { mrn: 'MLLP-1' }).slice(0, 60)}`;
    expect(await rawExchange(port, partial, 300)).toBe('');
    const framed = `${VT}${oru('MLLP-AFTER', [PLT('46')], { mrn: 'MLLP-1', filler: 'F-AFTER' })}${FS_CR}`;
    const reply = await rawExchange(port, framed);
    expect(reply).toContain('MSA|AA|MLLP-AFTER');
  });

  it('answers garbage inside a frame with AR rather than crashing', async () => {
    const reply = await rawExchange(port, `${VT}MSH|^~\\&|X|WCH|||20220101||XYZ|G1|P|2.5.1${FS_CR}`);
    expect(reply).toMatch(/MSA\|AR\|G1/);
    const again = await rawExchange(
      port,
      `${VT}${oru('MLLP-OK2', [PLT('47')], { mrn: 'MLLP-1', filler: 'F-OK2' })}${FS_CR}`,
    );
    expect(again).toContain('MSA|AA|MLLP-OK2');
  });
});

describe('MLLP address allow-list', () => {
  it('closes connections from addresses that are not allowed', async () => {
    const s = await startTestService({ HL7_MLLP_PORT: '0', HL7_MLLP_ALLOW_ADDRESSES: '10.9.9.9' });
    try {
      const reply = await rawExchange(s.service.mllpPort as number, `${VT}${oru('DENY-1', [PLT('45')])}${FS_CR}`, 500);
      expect(reply).toBe('');
      // The refusal is audited too, as a failure without a client.
      let refused: AuditEvent | undefined;
      for (let i = 0; i < 20 && !refused; i++) {
        const b = (await (await s.call('/fhir/AuditEvent?outcome=4&_count=50')).json()) as Bundle<AuditEvent>;
        refused = b.entry
          ?.map((e) => e.resource as AuditEvent)
          .find((a) => a.outcomeDesc === 'connection refused: address not allowed');
        if (!refused) await new Promise((r) => setTimeout(r, 100));
      }
      expect(refused?.agent?.[0]?.who?.display).toBe('unauthenticated client');
    } finally {
      await s.stop();
    }
  });
});
