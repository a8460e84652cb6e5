/** Request id (echoing X-Request-Id when the caller sends a sane one) and an access log line. */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from './metrics.ts';

/** A low-cardinality label for the metrics: the first path segments, never ids or queries. */
function routeFamily(url: string): string {
  // The first two non-empty segments of the path (without splitting it: this runs for every request).
  const m = FIRST_SEGMENTS.exec(url);
  const first = m?.[1] ?? '';
  const second = m?.[2] ?? '';
  if (first !== 'fhir') return `/${first}`;
  return second === '' ? '/fhir' : `/fhir/${/^[A-Z][A-Za-z]+$/.test(second) ? second : '_other'}`;
}

const FIRST_SEGMENTS = /^\/*([^/?]*)\/*([^/?]*)/;

export function requestContext(logger: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.locals.reqId = reqId;
    res.setHeader('X-Request-Id', reqId);
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      metrics?.httpRequests.observe(
        { method: req.method, route: routeFamily(req.originalUrl), status: String(res.statusCode) },
        ms / 1000,
      );
      logger.debug('request', {
        reqId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms,
        client: (res.locals.access as { clientId?: string } | undefined)?.clientId,
      });
    });
    next();
  };
}
