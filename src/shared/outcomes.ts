/**
 * Everything FHIR-facing fails as an OperationOutcomeError carrying one of these outcomes, and
 * statusOf() is the one place that maps an outcome to an HTTP status. Outcome ids not listed here
 * fall back to @medplum/core's getStatus (which knows its own canned outcomes).
 */
import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

type IssueType = OperationOutcomeIssue['code'];

const STATUS_BY_ID: Record<string, number> = {
  ok: 200,
  created: 201,
  accepted: 202,
  'not-retained': 202,
  withdrawn: 200,
  'bad-request': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  'method-not-allowed': 405,
  'not-acceptable': 406,
  conflict: 409,
  gone: 410,
  'precondition-failed': 412,
  'payload-too-large': 413,
  'unsupported-media-type': 415,
  unprocessable: 422,
  'too-many-requests': 429,
  'server-error': 500,
  unavailable: 503,
};

export function statusOf(outcome: OperationOutcome): number {
  return (outcome.id && STATUS_BY_ID[outcome.id]) || getStatus(outcome);
}

function outcome(
  id: string,
  severity: OperationOutcomeIssue['severity'],
  code: IssueType,
  text: string,
  expression?: string | string[],
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, details: { text } };
  if (expression !== undefined) issue.expression = Array.isArray(expression) ? expression : [expression];
  return { resourceType: 'OperationOutcome', id, issue: [issue] };
}

export const ok = (text = 'All OK'): OperationOutcome => outcome('ok', 'information', 'informational', text);
export const createdOutcome = (text = 'Created'): OperationOutcome =>
  outcome('created', 'information', 'informational', text);
export const notRetained = (text: string): OperationOutcome =>
  outcome('not-retained', 'information', 'informational', text);
/** A correction took a stored result out of the trial (src/ingest/withdraw.ts). */
export const withdrawnFromTrial = (text: string): OperationOutcome =>
  outcome('withdrawn', 'information', 'informational', text);
export const badRequest = (text: string, expression?: string | string[]): OperationOutcome =>
  outcome('bad-request', 'error', 'invalid', text, expression);
export const unauthorized = (text = 'Authentication required'): OperationOutcome =>
  outcome('unauthorized', 'error', 'login', text);
export const forbidden = (text = 'Forbidden'): OperationOutcome => outcome('forbidden', 'error', 'forbidden', text);
export const notFound = (text = 'Not found'): OperationOutcome => outcome('not-found', 'error', 'not-found', text);
export const methodNotAllowed = (text: string): OperationOutcome =>
  outcome('method-not-allowed', 'error', 'not-supported', text);
export const notAcceptable = (text: string): OperationOutcome =>
  outcome('not-acceptable', 'error', 'not-supported', text);
export const conflict = (text: string, expression?: string | string[]): OperationOutcome =>
  outcome('conflict', 'error', 'conflict', text, expression);
export const gone = (text = 'Deleted'): OperationOutcome => outcome('gone', 'error', 'deleted', text);
export const preconditionFailed = (text: string): OperationOutcome =>
  outcome('precondition-failed', 'error', 'conflict', text);
export const multipleMatches = (text: string): OperationOutcome =>
  outcome('precondition-failed', 'error', 'multiple-matches', text);
export const payloadTooLarge = (text: string): OperationOutcome =>
  outcome('payload-too-large', 'error', 'too-costly', text);
export const unsupportedMediaType = (text: string): OperationOutcome =>
  outcome('unsupported-media-type', 'error', 'not-supported', text);
export const unprocessable = (text: string, expression?: string | string[]): OperationOutcome =>
  outcome('unprocessable', 'error', 'processing', text, expression);
export const tooManyRequests = (text = 'Too many requests'): OperationOutcome =>
  outcome('too-many-requests', 'error', 'throttled', text);
export const serverError = (text = 'Internal server error'): OperationOutcome =>
  outcome('server-error', 'fatal', 'exception', text);
export const unavailable = (text: string): OperationOutcome => outcome('unavailable', 'error', 'transient', text);
/** A request that would cost more than the server allows any one request (400: it never will succeed as sent). */
export const tooCostly = (text: string, expression?: string | string[]): OperationOutcome =>
  outcome('bad-request', 'error', 'too-costly', text, expression);
/** A request stopped at its time budget (503: the same request may succeed when the server is less busy). */
export const timedOut = (text: string): OperationOutcome => outcome('unavailable', 'error', 'timeout', text);

/** Marks an OperationOutcome with a status explicitly (validation failures become 422, say). */
export function withId(o: OperationOutcome, id: keyof typeof STATUS_BY_ID): OperationOutcome {
  return { ...o, id };
}

export function fail(o: OperationOutcome): never {
  throw new OperationOutcomeError(o);
}

export { OperationOutcomeError };

const SERIALISED = new WeakMap<OperationOutcome, string>();

/**
 * An outcome answered over and over (a result turned away, issue 22): frozen, so that no one can
 * change what later answers send, and serialised once; `outcomeText` hands the text back.
 */
export function constantOutcome(o: OperationOutcome): OperationOutcome {
  const frozen = deepFreeze(o);
  SERIALISED.set(frozen, JSON.stringify(frozen));
  return frozen;
}

/** The outcome as JSON text: the constant's own, or serialised now. */
export function outcomeText(o: OperationOutcome): string {
  return SERIALISED.get(o) ?? JSON.stringify(o);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
