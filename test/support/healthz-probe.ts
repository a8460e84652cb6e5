/**
 * /healthz latency while a property test drives the service. A request that blocks the event loop
 * (a stuck parser, a query the service waits on synchronously) shows as seconds on every probe
 * behind it; a busy CI machine shows as an occasional probe over 100 ms. So the verdict is on the
 * distribution: the median under 100 ms (the service's answer time) and no probe over a second
 * (nothing ever blocked it).
 */
import { expect } from 'vitest';

export const HEALTHZ_MEDIAN_MS = 100;
export const HEALTHZ_MAX_MS = 1000;

export function healthzProbe(baseUrl: string) {
  const latencies: number[] = [];
  return {
    /** One /healthz call, started now; resolves with its latency after checking it answered 200. */
    async sample(): Promise<number> {
      const t0 = performance.now();
      const res = await fetch(`${baseUrl}/healthz`);
      const ms = performance.now() - t0;
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      latencies.push(ms);
      expect(ms, `/healthz took ${ms.toFixed(0)} ms: something blocked the service`).toBeLessThan(HEALTHZ_MAX_MS);
      return ms;
    },
    /** After the run: enough probes were taken and their median is under 100 ms. */
    assertResponsive(minSamples = 10): void {
      expect(latencies.length).toBeGreaterThanOrEqual(minSamples);
      const sorted = [...latencies].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)] ?? Number.POSITIVE_INFINITY;
      expect(median, `/healthz median ${median.toFixed(1)} ms over ${sorted.length} probes`).toBeLessThan(
        HEALTHZ_MEDIAN_MS,
      );
    },
  };
}
