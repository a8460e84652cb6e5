/**
 * The answer for a pushed result the trial does not keep as a trial record: 202 with an
 * information outcome; a result held for review (an unmapped site code of an enrolled subject) is
 * put on the dead-letter list first, in the same transaction as nothing else. A re-delivery of a
 * stored result that now leaves the trial withdraws it instead (withdraw.ts).
 */
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { NotKeptWrite, WriteAnswer, WriteContext } from '../fhir/write-pipeline.ts';
import { constantOutcome, notRetained } from '../shared/outcomes.ts';
import type { Queryable } from '../store/db.ts';
import { addDeadLetter } from '../store/dead-letter-store.ts';
import type { IntakeSession } from './intake.ts';
import type { RouteDecision } from './route-result.ts';
import { mayWithdraw, storedByIdentifier, withdrawStored } from './withdraw.ts';

type NotRetained = Extract<RouteDecision, { retain: false }>;

/**
 * A PUT names the stored result it re-delivers; a POST is looked up by identifier (outside a
 * transaction, an optimistic single POST, the withdrawal gets its own).
 */
export async function answerNotKept(
  ctx: WriteContext,
  gate: IntakeSession,
  q: Queryable,
  write: NotKeptWrite,
): Promise<WriteAnswer> {
  const decision = write.decision as NotRetained;
  if (!write.storedAbsent && mayWithdraw(decision)) {
    // Looked up already by the freshness check (src/store/gate-probe.ts), or now.
    const looked = write.id === undefined ? gate.lookedUp(q, write.resource) : undefined;
    const existing = write.id ?? (looked ? looked.stored : await storedByIdentifier(q, write.resource));
    if (existing) {
      const withdraw = (tx: Queryable) => withdrawStored(ctx, gate, tx, write.type, existing, decision);
      const withdrawn = write.id === undefined && q === ctx.db ? await ctx.db.transaction(withdraw) : await withdraw(q);
      if (withdrawn) return withdrawn;
    }
  }
  return notKept(q, write.resource, decision);
}

async function notKept(q: Queryable, resource: Resource, decision: NotRetained): Promise<WriteAnswer> {
  if (decision.outcome === 'dead-lettered') {
    const id = await addDeadLetter(q, resource.resourceType, JSON.stringify(resource), decision.reason);
    const outcome = notRetained(`${decision.reason} (dead letter ${id}; an admin replays it once the mapping exists)`);
    return {
      status: 202,
      outcome: { ...outcome, issue: outcome.issue.map((i) => ({ ...i, severity: 'warning' as const })) },
    };
  }
  // Nothing stored, withdrawn or held: counted in the audit summary under the decision's outcome.
  return { status: 202, outcome: notRetainedOutcome(decision.reason), discarded: decision.outcome };
}

/** The answers a feed gets most: one frozen, pre-serialised outcome per reason (a few; bounded). */
const ANSWERS = new Map<string, OperationOutcome>();
const MAX_ANSWERS = 64;

function notRetainedOutcome(reason: string): OperationOutcome {
  let answer = ANSWERS.get(reason);
  if (!answer) {
    answer = constantOutcome(notRetained(reason));
    if (ANSWERS.size < MAX_ANSWERS) ANSWERS.set(reason, answer);
  }
  return answer;
}
