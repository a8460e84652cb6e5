/**
 * Replaying the dead-letter list after mappings/ was fixed: each open letter is routed again with
 * the current mappings. Now mapped: it goes through the normal ingest path and is marked replayed.
 * Still unmapped: it stays open. No longer the trial's (subject withdrawn, code mapped to a
 * non-study test): discarded with the reason. Letters are claimed with SKIP LOCKED, so two
 * replays never process one letter twice. Each letter is replayed under its own savepoint: one that
 * fails (a value still refused, a store error) stays open with the failure counted and its error
 * kept, and the others of the same replay are applied all the same. A letter written under an id
 * (read from upstream) is written the way the feed writes it: to the record that holds its
 * business identifier, if another does.
 */

import { OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { FhirContext } from '../fhir/fhir-context.ts';
import { statusOf } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';
import { claimOpenDeadLetters, recordReplayFailure, resolveDeadLetter } from '../store/dead-letter-store.ts';
import { withSavepoint } from '../store/savepoint.ts';
import type { Intake } from './intake.ts';
import { trialGate } from './trial-pipeline.ts';
import { writeFedResource } from './upstream-feed.ts';

export interface ReplayResult {
  replayed: string[];
  discarded: string[];
  /** Still open: unmapped still, or failed (those are in `failed` too). */
  stillOpen: string[];
  /** Letters whose replay failed, with why: kept open for the next replay. */
  failed: { id: string; error: string }[];
}

function failureText(err: unknown): string {
  if (err instanceof OperationOutcomeError) {
    const text = err.outcome.issue?.map((i) => i.details?.text ?? i.diagnostics ?? '').join('; ') || err.message;
    return `${statusOf(err.outcome)} ${text}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export async function replayDeadLetters(
  db: Db,
  intake: Intake,
  context: (tx: Db) => FhirContext,
  ids?: string[],
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], discarded: [], stillOpen: [], failed: [] };
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
      try {
        const r = await withSavepoint(tx, () => writeFedResource(ctx, tx, resource));
        await resolveDeadLetter(tx, letter.id, 'replayed', `${r.status} ${r.location ?? ''}`.trim());
        result.replayed.push(letter.id);
      } catch (err) {
        const error = failureText(err);
        await recordReplayFailure(tx, letter.id, error);
        result.failed.push({ id: letter.id, error });
        result.stillOpen.push(letter.id);
      }
    }
  });
  return result;
}
