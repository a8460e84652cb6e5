/**
 * HL7 v2 ORU^R01 over MLLP: messages per second and ACK latency over one connection and over 8,
 * each message a platelet count for an enrolled child (written for the tests), each ACK sent after
 * its message is committed. The service runs in its own process.
 *   node bench/hl7-mllp.ts          DATABASE_URL=postgres://… node bench/hl7-mllp.ts
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Hl7Client } from '@medplum/hl7';
import { oru, PLT } from '../test/support/hl7-messages.ts';
import { startBenchService } from './support/bench-service.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
type WireMessage = Parameters<Hl7Client['sendAndWait']>[0];
const core = createRequire(createRequire(import.meta.url).resolve('@medplum/hl7')).resolve('@medplum/core');
const { Hl7Message } = (await import(pathToFileURL(core).href)) as { Hl7Message: { parse(t: string): WireMessage } };

const port = 20000 + Math.floor(Math.random() * 20000);
const svc = await startBenchService({ HL7_MLLP_PORT: String(port), OUTCOMES_WORKER: 'off' });
await fetch(`${svc.url}/fhir/Patient/bench-mllp`, {
  method: 'PUT',
  headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/fhir+json' },
  body: JSON.stringify({
    resourceType: 'Patient',
    id: 'bench-mllp',
    identifier: [{ system: 'urn:oid:1.2.156.112606.1.2.2', value: 'BENCH-1' }],
  }),
});
await fetch(`${svc.url}/fhir/ResearchSubject`, {
  method: 'POST',
  headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/fhir+json' },
  body: JSON.stringify({
    resourceType: 'ResearchSubject',
    status: 'on-study',
    study: { reference: 'ResearchStudy/nct04775173' },
    individual: { reference: 'Patient/bench-mllp' },
    assignedArm: 'low-dose',
    period: { start: '2022-01-10' },
  }),
});

let seq = 0;
async function run(connections: number): Promise<Record<string, number>> {
  const latencies: number[] = [];
  let aa = 0;
  const end = Date.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new Hl7Client({ host: '127.0.0.1', port });
      try {
        while (Date.now() < end) {
          const n = seq++;
          const msg = Hl7Message.parse(
            oru(`B${n}`, [PLT(String(40 + (n % 100)))], { mrn: 'BENCH-1', filler: `BF${n}` }),
          );
          const t = performance.now();
          const ack = await client.sendAndWait(msg);
          latencies.push(performance.now() - t);
          if (ack.getSegment('MSA')?.getField(1)?.toString() === 'AA') aa++;
        }
      } finally {
        await client.close();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const p = (q: number) =>
    Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10;
  return {
    connections,
    messages: latencies.length,
    acceptedAA: aa,
    messagesPerSecond: Math.round(latencies.length / seconds),
    p50ms: p(0.5),
    p99ms: p(0.99),
  };
}

const one = await run(1);
const eight = await run(8);
const result = { backend: svc.backend, oneConnection: one, eightConnections: eight, peakRssMb: svc.peakRssMb() };
console.log(JSON.stringify(result, null, 2));
writeFileSync(`bench/results/hl7-mllp-${svc.backend}.json`, `${JSON.stringify(result, null, 2)}\n`);
await svc.stop();
