/**
 * The answer for a pushed result the trial does not keep as a trial record: 202 with an
 * information outcome; a result held for review (an unmapped site code of an enrolled subject) is
 * put on the dead-letter list first, in the same transaction as nothing else.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { RouteDecision } from '../../ingest/route-result.ts';
import { notRetained } from '../../shared/outcomes.ts';
import type { Queryable } from '../../store/db.ts';
import { addDeadLetter } from '../../store/dead-letter-store.ts';
import type { FhirResponse } from '../fhir-context.ts';

export async function notKept(
  q: Queryable,
  resource: Resource,
  decision: Extract<RouteDecision, { retain: false }>,
): Promise<FhirResponse> {
  if (decision.outcome === 'dead-lettered') {
    const id = await addDeadLetter(q, resource.resourceType, JSON.stringify(resource), decision.reason);
    const outcome = notRetained(`${decision.reason} (dead letter ${id}; an admin replays it once the mapping exists)`);
    return {
      status: 202,
      outcome: { ...outcome, issue: outcome.issue.map((i) => ({ ...i, severity: 'warning' as const })) },
    };
  }
  return { status: 202, outcome: notRetained(decision.reason) };
}
