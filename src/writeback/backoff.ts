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
