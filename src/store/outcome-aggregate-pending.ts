/**
 * MeasureReport groups whose recount a batch leaves to a later one (migration 0073): a bulk
 * recomputation's batches each touch every (arm, visit, kind) group, and a recount reads every
 * summary row of its groups, so recounting in every batch grew with the square of the subjects.
 * refreshAggregates takes the pending groups of its study with its own.
 */
import type { Queryable } from './db.ts';
import type { SummaryKey } from './outcome-store.ts';

/**
 * Leaves these groups of the study to be recounted later (one statement). The table has no key, so
 * batches running at once never wait on each other here; a group added twice is recounted once.
 */
export async function deferAggregates(q: Queryable, studyId: string, keys: readonly SummaryKey[]): Promise<void> {
  if (keys.length === 0) return;
  await q.query(
    `INSERT INTO outcome_aggregate_pending (study_id, arm, visit, kind)
     SELECT DISTINCT $1::text, k.arm, k.visit, k.kind
       FROM unnest($2::text[], $3::text[], $4::text[]) AS k(arm, visit, kind)`,
    [studyId, keys.map((k) => k.arm), keys.map((k) => k.visit), keys.map((k) => k.kind)],
  );
}

/**
 * Takes (deletes) the waiting groups of the study's first arm-visit pair that has any, and returns
 * them (none: nothing waits). One pair's groups are one MeasureReport's: recounting a pair at a
 * time bounds the transaction that does it (a recount reads every summary row of its groups).
 */
export async function takePendingPair(q: Queryable, studyId: string): Promise<SummaryKey[]> {
  const r = await q.query<SummaryKey>(
    `WITH pair AS (
       SELECT arm, visit FROM outcome_aggregate_pending WHERE study_id = $1 ORDER BY arm, visit LIMIT 1
     )
     DELETE FROM outcome_aggregate_pending p USING pair
      WHERE p.study_id = $1 AND p.arm = pair.arm AND p.visit = pair.visit
     RETURNING p.arm, p.visit, p.kind`,
    [studyId],
  );
  // A group left twice is taken twice.
  const groups = new Map(r.rows.map((g) => [`${g.arm}\u0000${g.visit}\u0000${g.kind}`, g]));
  return [...groups.values()].map((g) => ({ arm: g.arm, visit: g.visit, kind: g.kind }));
}

/** Studies with groups waiting for their recount. */
export async function studiesWithPendingAggregates(q: Queryable): Promise<string[]> {
  const r = await q.query<{ study_id: string }>('SELECT DISTINCT study_id FROM outcome_aggregate_pending');
  return r.rows.map((row) => row.study_id);
}
