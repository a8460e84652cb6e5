/**
 * The last express middleware: every error becomes an OperationOutcome with its status. Nothing
 * escapes as an HTML page or a crash; unexpected errors are logged with the request id.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { ErrorRequestHandler } from 'express';
import { sendOutcome } from '../fhir/http/send.ts';
import type { Logger } from '../shared/logger.ts';
import {
  badRequest,
  conflict,
  payloadTooLarge,
  serverError,
  statusOf,
  unavailable,
  unsupportedMediaType,
} from '../shared/outcomes.ts';

interface HttpishError {
  type?: string;
  status?: number;
  code?: string;
  message?: string;
}

export function createErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof OperationOutcomeError) {
      sendOutcome(res, statusOf(err.outcome), err.outcome);
      return;
    }
    const e = (err ?? {}) as HttpishError;
    if (e.type === 'entity.too.large') {
      sendOutcome(res, 413, payloadTooLarge(`Request body is larger than the limit`));
      return;
    }
    if (e.type === 'entity.parse.failed' || e.type === 'request.aborted' || e.type === 'encoding.unsupported') {
      sendOutcome(res, 400, badRequest(e.message ?? 'Malformed request'));
      return;
    }
    // The router decodes path parameters before any handler runs (express 5: URIError, status 400).
    if (err instanceof URIError) {
      sendOutcome(res, 400, badRequest(`The path ${req.path} is not valid percent-encoded UTF-8`));
      return;
    }
    if (e.type === 'charset.unsupported') {
      sendOutcome(res, 415, unsupportedMediaType(e.message ?? 'Unsupported charset'));
      return;
    }
    // PostgreSQL: invalid input (22xxx) is the client's; unique violation is a conflict (a racing create).
    // The database's own words name its types and columns: they go to the log, never to the client.
    if (typeof e.code === 'string' && /^22[0-9A-Z]{3}$/.test(e.code)) {
      logger.warn('database rejected a value', { code: e.code, detail: e.message, reqId: res.locals.reqId });
      sendOutcome(res, 400, badRequest('A value in the request is out of range or malformed'));
      return;
    }
    if (e.code === '23505') {
      sendOutcome(res, 409, conflict('A concurrent request wrote the same resource; retry'));
      return;
    }
    if (e.code === '40001' || e.code === '40P01' || e.code === 'ECONNREFUSED' || e.code === '57P01') {
      res.setHeader('Retry-After', '1');
      sendOutcome(res, 503, unavailable('The database is temporarily unavailable; retry'));
      return;
    }
    logger.error('unhandled error', { err, reqId: res.locals.reqId, method: req.method, url: req.originalUrl });
    sendOutcome(res, 500, serverError(`Internal error (request ${String(res.locals.reqId ?? '')})`));
  };
}
