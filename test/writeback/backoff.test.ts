// Retry timing rules: exponential backoff with equal jitter, capped, never under Retry-After (RFC 9110 §10.2.3).
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/writeback/backoff.ts';
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
});
