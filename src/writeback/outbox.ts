/**
 * Queueing outcome resources for write-back. Call enqueueOutbox with the transaction that writes
 * them, so a resource is queued exactly when its change commits (and never when it rolls back).
 * Each resource is checked as it will be sent (outgoing-resource.ts): one that is not valid R4 is
 * queued as a dead letter (OUTBOX_RESOURCE_INVALID) rather than failing the caller's transaction.
 * Items are keyed by business identifier: queueing a newer version of a queued resource replaces it
 * (superseded versions are never sent); an older version arriving late is ignored.
 */
import type { Resource } from '@medplum/fhirtypes';
import * as z from 'zod';
import { appError } from '../shared/app-error.ts';
import type { Queryable } from '../store/db.ts';
import { type OutboxRowInput, upsertOutboxRows } from '../store/outbox-store.ts';
import { upstreamBody } from './outbox-worker.ts';
import { outgoingProblem } from './outgoing-resource.ts';

export interface OutboxItem {
  resourceType: string;
  /** The resource's id in this adapter's store. */
  id: string;
  /** meta.versionId in this adapter's store (a positive integer). */
  versionId: string | number;
  /** The business identifier upstream matches on: { system, value } or "system|value". */
  identifier: { system: string; value: string } | string;
  /** upsert: create or update upstream; retract: withdraw it (see the worker). */
  operation: 'upsert' | 'retract';
  /**
   * The resource as it should appear upstream. Optional: the worker reads version `versionId` from
   * the store when the row holds none. For a retract, a resource here is sent as the final version
   * (e.g. status entered-in-error); without one the upstream copy is deleted.
   */
  resource?: Resource | undefined;
  /**
   * An upsert whose `resource` is exactly the store's version `versionId` (an outcome version written
   * in the same transaction): it is checked now as it will be sent, but the row keeps no copy of it,
   * and the worker reads that version when it sends it (issue 20: a recomputation wrote every outcome
   * body twice). A resource that fails the check is kept with its dead letter, as before.
   */
  stored?: boolean | undefined;
}

const ItemSchema = z.object({
  resourceType: z.string().regex(/^[A-Z][A-Za-z]+$/),
  id: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/),
  versionId: z.union([z.number().int().positive(), z.string().regex(/^[1-9]\d{0,15}$/)]),
  identifier: z.union([
    z.object({ system: z.string().min(1), value: z.string().min(1) }),
    z.string().regex(/^[^|]+\|.+$/, { error: 'identifier must be "system|value"' }),
  ]),
  operation: z.enum(['upsert', 'retract']),
  resource: z.looseObject({ resourceType: z.string() }).optional(),
  stored: z.boolean().optional(),
});

function toRow(item: OutboxItem, index: number): OutboxRowInput {
  const parsed = ItemSchema.safeParse(item);
  if (!parsed.success) {
    throw appError('OUTBOX_ITEM_INVALID', `${index}: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  }
  if (item.resource && item.resource.resourceType !== item.resourceType) {
    throw appError('OUTBOX_ITEM_INVALID', `${index}: resource is a ${item.resource.resourceType}`);
  }
  const [system, value] =
    typeof item.identifier === 'string'
      ? [
          item.identifier.slice(0, item.identifier.indexOf('|')),
          item.identifier.slice(item.identifier.indexOf('|') + 1),
        ]
      : [item.identifier.system, item.identifier.value];
  const problem = item.resource ? outgoingProblem(upstreamBody(item.resource)) : undefined;
  return {
    resourceType: item.resourceType,
    identifierSystem: system,
    identifierValue: value,
    resourceId: item.id,
    versionId: Number(item.versionId),
    operation: item.operation,
    content:
      item.resource && !(item.stored && item.operation === 'upsert' && !problem) ? JSON.stringify(item.resource) : null,
    ...(problem
      ? { deadError: `OUTBOX_RESOURCE_INVALID: ${appError('OUTBOX_RESOURCE_INVALID', problem).message}` }
      : {}),
  };
}

/** Queues items in the caller's transaction (q). Throws AppError OUTBOX_ITEM_INVALID on a bad item. */
export async function enqueueOutbox(q: Queryable, items: readonly OutboxItem[]): Promise<void> {
  const latest = new Map<string, OutboxRowInput>();
  items.forEach((item, i) => {
    const row = toRow(item, i);
    const key = `${row.resourceType}\u0000${row.identifierSystem}\u0000${row.identifierValue}`;
    const seen = latest.get(key);
    if (!seen || seen.versionId <= row.versionId) latest.set(key, row);
  });
  await upsertOutboxRows(q, [...latest.values()]);
}
