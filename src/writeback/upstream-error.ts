/**
 * What went wrong talking to upstream, classified once so the outbox, the pull and the subscription
 * intake decide alike: retry later (network, timeout, 408, 409, 429, 5xx, 401 after a token
 * refresh, and any failure to get a token) or give up on this request (any other 4xx from the FHIR
 * server: its definitive answer about the request, which retrying cannot change).
 *
 * A token endpoint's failure is UPSTREAM_TOKEN and always retryable, a client rejection
 * (invalid_client, invalid_scope) included: it says nothing about the resource, which was never
 * sent, and dead-lettering every queued outcome over a credentials problem would turn one
 * configuration fix into a mass retry by hand. Such items wait (the outbox age alert shows it) and
 * are delivered once the credentials work; the outbox's maximum age bounds the wait.
 */
import type { OperationOutcome } from '@medplum/fhirtypes';

export type UpstreamErrorCode = 'UPSTREAM_HTTP' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_NETWORK' | 'UPSTREAM_TOKEN';

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  /** The HTTP status of the FHIR request (undefined for network, time-out and token failures). */
  readonly status: number | undefined;
  /** From Retry-After (seconds or HTTP-date), in milliseconds from now. */
  readonly retryAfterMs: number | undefined;
  readonly outcome: OperationOutcome | undefined;

  constructor(
    code: UpstreamErrorCode,
    message: string,
    details: { status?: number; retryAfterMs?: number; outcome?: OperationOutcome; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause });
    this.name = 'UpstreamError';
    this.code = code;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.outcome = details.outcome;
  }

  get retryable(): boolean {
    if (this.code !== 'UPSTREAM_HTTP' || this.status === undefined) return true;
    return (
      this.status === 401 || this.status === 408 || this.status === 409 || this.status === 429 || this.status >= 500
    );
  }
}

/** Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
