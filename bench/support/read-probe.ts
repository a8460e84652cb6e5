/**
 * A reader during a long operation, in a worker thread of its own: one GET every `everyMs`, each
 * timed. The service runs in the bench's process and, on PGlite, a recomputation batch holds that
 * process's event loop; a reader on the same loop would also wait for the batch to read the
 * answer it was already sent, and count that as the service's time.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface ProbeInput {
  url: string;
  token: string;
  everyMs: number;
}

/** A read: when it was sent (ms, this thread's clock since the probe started) and how long it took. */
export interface ProbeRead {
  sentAt: number;
  took: number;
  /** 0: no answer (the connection failed). */
  status: number;
}

export interface ReadProbe {
  /** Stops after the read in flight; its reads, in order. */
  stop(): Promise<ProbeRead[]>;
  /** Called as each slow read (over `slowMs`) comes in, with its time on the main thread's clock. */
  onSlow(slowMs: number, fn: (read: ProbeRead, sentAtHere: number) => void): void;
}

export function startReadProbe(input: ProbeInput): ReadProbe {
  const worker = new Worker(new URL(import.meta.url), { workerData: input });
  const reads: ProbeRead[] = [];
  const startedHere = performance.now();
  let slow: { ms: number; fn: (read: ProbeRead, sentAtHere: number) => void } | undefined;
  let stopped: (() => void) | undefined;
  worker.on('message', (m: ProbeRead | 'stopped') => {
    if (m === 'stopped') {
      stopped?.();
      return;
    }
    reads.push(m);
    if (slow && m.took > slow.ms) slow.fn(m, startedHere + m.sentAt);
  });
  return {
    onSlow(ms, fn) {
      slow = { ms, fn };
    },
    stop: () =>
      new Promise((resolve, reject) => {
        stopped = () => void worker.terminate().then(() => resolve(reads));
        worker.once('error', reject);
        worker.postMessage('stop');
      }),
  };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const { url, token, everyMs } = workerData as ProbeInput;
  let probing = true;
  port.on('message', () => {
    probing = false;
  });
  const t0 = performance.now();
  while (probing) {
    const t = performance.now();
    let status = 0;
    try {
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      await r.arrayBuffer();
      status = r.status;
    } catch {
      // A connection reset (a keep-alive socket the server closed as the read was sent): status 0.
    }
    port.postMessage({ sentAt: t - t0, took: performance.now() - t, status } satisfies ProbeRead);
    await new Promise((done) => setTimeout(done, everyMs));
  }
  port.postMessage('stopped');
}
