/**
 * Exponential backoff with jitter for upstream retries: the n-th retry waits between half and all of
 * min(max, base·2^(n−1)) ("equal jitter"), so instances retrying after one outage spread out, and
 * never less than upstream's Retry-After.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}

/**
 * Runs `attempt` until it succeeds or `signal` aborts, waiting backoffDelay (Retry-After honoured)
 * between failures; for start-up work that must not wait for a schedule nor give up (the token and
 * scope check, the Subscription set-up). Resolves true once done, false when aborted first.
 */
export async function retryUntilDone(
  attempt: () => Promise<void>,
  policy: BackoffPolicy,
  signal: AbortSignal,
  onFailure: (err: unknown, attempts: number, delayMs: number) => void,
): Promise<boolean> {
  for (let n = 1; !signal.aborted; n++) {
    try {
      await attempt();
      return true;
    } catch (err) {
      const retryAfter = (err as { retryAfterMs?: unknown })?.retryAfterMs;
      const delay = backoffDelay(n, policy, typeof retryAfter === 'number' ? retryAfter : undefined);
      onFailure(err, n, delay);
      if (signal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
  return false;
}
