/**
 * Prometheus metrics at GET /metrics (prom-client: the standard exposition format). Each instance
 * exposes its own counters; Prometheus sums across instances.
 */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Histogram<'method' | 'route' | 'status'>;
  ingestResults: Counter<'outcome' | 'resource_type'>;
  notRetainedWrites: Counter<'client' | 'reason'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Histogram({
      name: 'khe_http_request_duration_seconds',
      help: 'HTTP request duration by method, route family and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    ingestResults: new Counter({
      name: 'khe_ingest_results_total',
      help: 'Results pushed by EHR feeds, by outcome: retained, duplicate, not-enrolled, not-relevant, rejected',
      labelNames: ['outcome', 'resource_type'],
      registers: [registry],
    }),
    notRetainedWrites: new Counter({
      name: 'khe_not_retained_writes_total',
      help: 'Single writes answered 202 and not stored (counted in the audit summary instead of one AuditEvent each), by client and reason',
      labelNames: ['client', 'reason'],
      registers: [registry],
    }),
  };
}
