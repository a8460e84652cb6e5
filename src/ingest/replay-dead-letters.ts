/**
 * Replaying the dead-letter list after mappings/ was fixed: each open letter is routed again with
 * the current mappings. Now mapped: it goes through the normal ingest path and is marked replayed.
 * Still unmapped: it stays open. No longer the trial's (subject withdrawn, code mapped to a
 * non-study test): discarded with the reason. Letters are claimed with SKIP LOCKED, so two
 * replays never process one letter twice.
 */
import type { Resource } from '@medplum/fhirtypes';
import { dispatch } from '../fhir/dispatch.ts';
import type { FhirContext } from '../fhir/fhir-context.ts';
import type { Db } from '../store/db.ts';
import { claimOpenDeadLetters, resolveDeadLetter } from '../store/dead-letter-store.ts';
import type { Intake } from './intake.ts';
import { trialGate } from './trial-pipeline.ts';

export interface ReplayResult {
  replayed: string[];
  discarded: string[];
  stillOpen: string[];
}

export async function replayDeadLetters(
  db: Db,
  intake: Intake,
  context: (tx: Db) => FhirContext,
  ids?: string[],
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], discarded: [], stillOpen: [] };
  await intake.refresh(db);
  await db.transaction(async (tx) => {
    for (const letter of await claimOpenDeadLetters(tx, ids)) {
      const resource = JSON.parse(letter.content) as Resource;
      const decision = intake.route(resource);
      if (decision && !decision.retain && decision.outcome === 'dead-lettered') {
        result.stillOpen.push(letter.id);
        continue;
      }
      if (decision && !decision.retain) {
        await resolveDeadLetter(tx, letter.id, 'discarded', decision.reason);
        result.discarded.push(letter.id);
        continue;
      }
      const ctx = { ...context(db), gate: trialGate(intake.session()) };
      const r = await dispatch(ctx, tx, {
        method: resource.id ? 'PUT' : 'POST',
        path: resource.id ? [resource.resourceType, resource.id] : [resource.resourceType],
        query: new URLSearchParams(),
        body: resource,
        strict: false,
      });
      await resolveDeadLetter(tx, letter.id, 'replayed', `${r.status} ${r.location ?? ''}`.trim());
      result.replayed.push(letter.id);
    }
  });
  return result;
}
