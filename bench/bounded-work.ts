/**
 * What one hostile request costs: a search with many repeats of one parameter (100, 200, 400) and a
 * 32 MB HL7 v2 message over MLLP that never ends, each with /healthz polled meanwhile (its slowest
 * answer shows whether the service stayed responsive). The service runs in its own process, with
 * SEARCH_MAX_PARAMETERS raised to 400 so the search is run rather than refused.
 *   node bench/bounded-work.ts          DATABASE_URL=postgres://… node bench/bounded-work.ts
 * BENCH_SEARCH_TIMEOUT_S caps the wait for one search (default 90 s); BENCH_REPEATS lists the searches
 * to run (default 100,200,400; empty: the MLLP message only, e.g. where a search never ends).
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { startBenchService } from './support/bench-service.ts';

const CAP_MS = Number(process.env.BENCH_SEARCH_TIMEOUT_S ?? 90) * 1000;
const port = 20000 + Math.floor(Math.random() * 20000);
const svc = await startBenchService({
  HL7_MLLP_PORT: String(port),
  OUTCOMES_WORKER: 'off',
  SEARCH_MAX_PARAMETERS: '400',
  SEARCH_TIMEOUT_MS: String(CAP_MS),
});
const headers = { authorization: `Bearer ${svc.token}`, 'content-type': 'application/fhir+json' };

// A few hundred Observations, so that the search has rows to look through.
for (let i = 0; i < 300; i++) {
  await fetch(`${svc.url}/fhir/Observation/bw-${i}`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({
      resourceType: 'Observation',
      id: `bw-${i}`,
      status: 'final',
      code: { coding: [{ system: 'http://example.org/codes', code: `x${i % 50}` }] },
      subject: { reference: 'Patient/bw-1' },
      effectiveDateTime: '2022-02-09',
    }),
  });
}

/** Polls /healthz until stopped; returns the slowest answer in ms. */
function healthPoller(): { stop(): Promise<number> } {
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        await fetch(`${svc.url}/healthz`, { signal: AbortSignal.timeout(CAP_MS + 5000) });
      } catch {
        // counted by its time
      }
      slowest = Math.max(slowest, performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.round(slowest);
    },
  };
}

async function search(repeats: number): Promise<Record<string, number | string>> {
  const query = Array.from({ length: repeats }, (_, i) => `code=x${i}`).join('&');
  const poller = healthPoller();
  const t = performance.now();
  let status: number | string;
  try {
    const res = await fetch(`${svc.url}/fhir/Observation?${query}`, { headers, signal: AbortSignal.timeout(CAP_MS) });
    status = res.status;
    await res.arrayBuffer();
  } catch {
    status = `no answer within ${CAP_MS / 1000} s`;
  }
  const ms = Math.round(performance.now() - t);
  return { repeats, status, ms, healthzSlowestMs: await poller.stop() };
}

async function mllp32mb(): Promise<Record<string, number | string | boolean>> {
  const chunk = Buffer.alloc(64 * 1024, 'z'.charCodeAt(0));
  const poller = healthPoller();
  const t = performance.now();
  const result = await new Promise<{ sentMs: number; answeredMs: number | undefined; ack: string }>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let ack = '';
    let sentMs = -1;
    let answeredMs: number | undefined;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      socket.destroy();
      resolve({ sentMs, answeredMs, ack });
    };
    socket.on('data', (d) => {
      ack += d.toString('utf8');
      answeredMs ??= performance.now() - t;
    });
    socket.on('close', finish);
    socket.on('error', finish);
    socket.on('connect', async () => {
      socket.write(`\x0bMSH|^~\\&|LIS|WCH|KHE|TRIAL|20220412093000+0800||ORU^R01^ORU_R01|BW-32MB|P|2.5.1\r`);
      for (let i = 0; i < 512 && !socket.destroyed; i++) {
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
      sentMs = performance.now() - t;
      // The receiver has everything once the socket's buffer has drained; give it time to answer.
      setTimeout(finish, 3000);
    });
    setTimeout(finish, CAP_MS);
  });
  return {
    bytes: 512 * chunk.length,
    sentOrRefusedMs: Math.round(result.sentMs >= 0 ? result.sentMs : performance.now() - t),
    answeredMs: result.answeredMs === undefined ? 'no answer' : Math.round(result.answeredMs),
    ack: /MSA\|(\w+)/.exec(result.ack)?.[1] ?? 'none',
    healthzSlowestMs: await poller.stop(),
  };
}

async function searches(): Promise<Record<string, number | string>[]> {
  const out: Record<string, number | string>[] = [];
  for (const n of (process.env.BENCH_REPEATS ?? '100,200,400').split(',').filter(Boolean)) {
    out.push(await search(Number(n)));
  }
  return out;
}

const results = {
  backend: svc.backend,
  note: 'one run on a shared 2-core machine with other work running',
  search: await searches(),
  mllp: await mllp32mb(),
};
console.log(JSON.stringify(results, null, 2));
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${JSON.stringify(results, null, 2)}\n`);
await svc.stop();
