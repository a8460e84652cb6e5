/**
 * Per-client request rate limit: a token bucket per client id, refilled continuously at
 * requestsPerMinute and holding at most `burst` requests. In memory, per instance: with N
 * instances behind a load balancer a client can get up to N times the configured rate. That is
 * deliberate (no shared state on the request path); size the limit per instance.
 */
import type { RequestHandler } from 'express';
import { OperationOutcomeError, tooManyRequests } from '../shared/outcomes.ts';
import type { AccessContext } from './access-context.ts';

export interface RateLimitOptions {
  requestsPerMinute: number;
  /** Bucket size; default 10 seconds' worth of requests (at least 1). */
  burst?: number | undefined;
  /** Milliseconds clock, injectable for tests. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export class TokenBucketLimiter {
  readonly #perMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#perMs = options.requestsPerMinute / 60_000;
    this.#capacity = options.burst ?? Math.max(1, Math.ceil(options.requestsPerMinute / 6));
    this.#now = options.now ?? Date.now;
  }

  /** Takes one request from the key's bucket: 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= 10_000) this.#sweep(now);
      b = { tokens: this.#capacity, updated: now };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.min(this.#capacity, b.tokens + (now - b.updated) * this.#perMs);
    b.updated = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#perMs / 1000));
  }

  /** Seconds until the key's bucket holds a request again (0: it does now), taking nothing. */
  waitFor(key: string): number {
    const b = this.#buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(this.#capacity, b.tokens + (this.#now() - b.updated) * this.#perMs);
    return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000));
  }

  /** Forgets buckets that have refilled: they behave exactly like new ones. */
  #sweep(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.updated) * this.#perMs >= this.#capacity) this.#buckets.delete(key);
    }
  }
}

/** Runs after authentication; keyed by client id (by address if, by a wiring mistake, there is none). */
export function createRateLimiter(options: RateLimitOptions): RequestHandler {
  const limiter = new TokenBucketLimiter(options);
  return (req, res, next) => {
    const access = res.locals.access as AccessContext | undefined;
    const key = access ? `client:${access.clientId}` : `ip:${req.ip ?? 'unknown'}`;
    const wait = limiter.take(key);
    if (wait === 0) {
      next();
      return;
    }
    res.setHeader('Retry-After', String(wait));
    next(new OperationOutcomeError(tooManyRequests(`Rate limit exceeded; retry after ${wait} s`)));
  };
}
