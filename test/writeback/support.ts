// Fixtures WRITTEN FOR THE TESTS: outcome resources the outcomes engine would queue for write-back.
import type { Observation } from '@medplum/fhirtypes';
import { createLogger } from '../../src/shared/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { OutboxWorker } from '../../src/writeback/outbox-worker.ts';
import { createTokenSource } from '../../src/writeback/upstream-auth.ts';
import { UpstreamClient } from '../../src/writeback/upstream-client.ts';

export const OUTCOME_SYSTEM = 'https://khe-trial.example.org/fhir/sid/outcome';

/** A computed trial outcome (KM response at month 3) for one subject, in a given version. */
export function outcomeObservation(subject: string, version: number, value = 150 + version): Observation {
  return {
    resourceType: 'Observation',
    id: `outcome-${subject}`,
    meta: { versionId: String(version), lastUpdated: '2026-11-24T10:00:00.000Z' },
    identifier: [{ system: OUTCOME_SYSTEM, value: `km-response-${subject}` }],
    status: 'final',
    code: {
      coding: [{ system: 'http://loinc.org', code: '777-3' }],
      text: 'platelets at month 3 (written for the tests)',
    },
    subject: { reference: `Patient/${subject}` },
    effectiveDateTime: '2022-04-10',
    valueQuantity: { value, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
  };
}

export function outboxItem(subject: string, version: number, value?: number) {
  return {
    resourceType: 'Observation',
    id: `outcome-${subject}`,
    versionId: version,
    identifier: { system: OUTCOME_SYSTEM, value: `km-response-${subject}` },
    operation: 'upsert' as const,
    resource: outcomeObservation(subject, version, value),
  };
}

export async function bearerUpstream(fhirUrl: string, timeoutMs = 10_000): Promise<UpstreamClient> {
  return new UpstreamClient({
    fhirUrl,
    timeoutMs,
    tokens: await createTokenSource({
      UPSTREAM_AUTH: 'bearer',
      UPSTREAM_BEARER_TOKEN: 'test-token',
      UPSTREAM_KEY_ALG: 'RS384',
      UPSTREAM_SCOPE: 'system/Observation.cu',
    }),
  });
}

export function worker(
  db: Db,
  upstream: UpstreamClient,
  options: { maxAgeMs?: number; now?: () => number; random?: () => number; batchSize?: number } = {},
): OutboxWorker {
  return new OutboxWorker({
    db,
    upstream,
    logger: createLogger('silent'),
    maxAgeMs: options.maxAgeMs ?? 72 * 3_600_000,
    backoff: { baseMs: 1000, maxMs: 60_000 },
    batchSize: options.batchSize ?? 50,
    concurrency: 4,
    leaseMs: 30_000,
    ...(options.now ? { now: options.now } : {}),
    random: options.random ?? (() => 0.5),
  });
}
