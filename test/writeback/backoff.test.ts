// Retry timing rules: exponential backoff with equal jitter, capped, never under Retry-After (RFC 9110 §10.2.3).
import { describe, expect, it } from 'vitest';
import { backoffDelay, retryUntilDone } from '../../src/writeback/backoff.ts';
import { parseRetryAfter, UpstreamError } from '../../src/writeback/upstream-error.ts';

const policy = { baseMs: 1000, maxMs: 60_000 };

describe('backoff', () => {
  it.each([
    [1, 0, 500],
    [1, 1, 1000],
    [2, 0, 1000],
    [3, 0.5, 3000],
    [7, 1, 60_000],
    [20, 0, 30_000],
  ])('attempt %i with random %f waits %i ms', (attempt, r, ms) => {
    expect(backoffDelay(attempt, policy, undefined, () => r)).toBe(ms);
  });

  it('never waits less than Retry-After', () => {
    expect(backoffDelay(1, policy, 120_000, () => 0)).toBe(120_000);
    expect(backoffDelay(6, policy, 1_000, () => 1)).toBe(32_000);
  });

  it.each([
    ['120', 120_000],
    ['0', 0],
    ['Tue, 24 Nov 2026 10:00:30 GMT', 30_000],
    ['Tue, 24 Nov 2026 09:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('reads Retry-After %s', (value, ms) => {
    expect(parseRetryAfter(value, Date.parse('2026-11-24T10:00:00Z'))).toBe(ms);
  });

  it.each([
    [undefined, 'UPSTREAM_NETWORK', true],
    [undefined, 'UPSTREAM_TIMEOUT', true],
    [undefined, 'UPSTREAM_TOKEN', true],
    [401, 'UPSTREAM_HTTP', true],
    [408, 'UPSTREAM_HTTP', true],
    [409, 'UPSTREAM_HTTP', true],
    [429, 'UPSTREAM_HTTP', true],
    [500, 'UPSTREAM_HTTP', true],
    [503, 'UPSTREAM_HTTP', true],
    [400, 'UPSTREAM_HTTP', false],
    [403, 'UPSTREAM_HTTP', false],
    [404, 'UPSTREAM_HTTP', false],
    [412, 'UPSTREAM_HTTP', false],
    [422, 'UPSTREAM_HTTP', false],
  ] as const)('status %s (%s) retryable: %s', (status, code, retryable) => {
    expect(new UpstreamError(code, 'x', status === undefined ? {} : { status }).retryable).toBe(retryable);
  });

  it('retries start-up work until it succeeds, honouring Retry-After, and stops when aborted', async () => {
    let calls = 0;
    const delays: number[] = [];
    const done = await retryUntilDone(
      async () => {
        calls += 1;
        if (calls === 1) throw new UpstreamError('UPSTREAM_TOKEN', 'down', { retryAfterMs: 30 });
        if (calls === 2) throw new Error('refused');
      },
      { baseMs: 5, maxMs: 10 },
      new AbortController().signal,
      (_err, _n, delay) => delays.push(delay),
    );
    expect(done).toBe(true);
    expect(calls).toBe(3);
    expect(delays[0]).toBeGreaterThanOrEqual(30);
    expect(delays[1]).toBeLessThanOrEqual(10);
    const stop = new AbortController();
    const never = retryUntilDone(
      async () => {
        throw new Error('down');
      },
      { baseMs: 60_000, maxMs: 60_000 },
      stop.signal,
      () => {},
    );
    stop.abort();
    expect(await never).toBe(false);
  });
});
