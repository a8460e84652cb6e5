import { fail, methodNotAllowed, notFound } from '../../shared/outcomes.ts';
import { IMMUTABLE_RESOURCE_TYPES } from '../../shared/resource-types.ts';
import { markOutcomes } from '../../store/batch-write.ts';
import type { Queryable } from '../../store/db.ts';
import { deletionWrite, readCurrent, writeVersion } from '../../store/resource-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { isValidId } from '../validate.ts';
import { refuseDerivedStored, refuseDerivedWrite } from './service-owned.ts';

/**
 * Deleting keeps history: the deletion is a new version with no content (410 on read after). A
 * deleted source the pipeline kept takes what was derived from it with it (the trial retracts its
 * trial records, as by the feed's own entered-in-error), whoever deletes it: outcomes must not
 * count a value the store no longer has.
 */
export async function deleteResource(ctx: FhirContext, q: Queryable, type: string, id: string): Promise<FhirResponse> {
  ctx.authorize(type, 'delete');
  if (IMMUTABLE_RESOURCE_TYPES.has(type)) fail(methodNotAllowed(`${type} cannot be deleted`));
  refuseDerivedWrite(ctx, type, id, undefined);
  if (!isValidId(id)) fail(notFound(`${type}/${id} not found`));
  const current = await readCurrent(q, type, id, true);
  if (!current) fail(notFound(`${type}/${id} not found`));
  refuseDerivedStored(ctx, type, id, current.content);
  if (current.deleted) return { status: 204 };
  const gate = ctx.gate ?? ctx.pipeline?.session();
  const retracted = gate && current.content ? await gate.retract(q, ctx.baseUrl, type, id, current.content) : undefined;
  const deletion = deletionWrite(type, id, current.versionId + 1);
  await writeVersion(q, deletion, false);
  const marks = (await ctx.pipeline?.marksOf(q, type, id, undefined, current.content)) ?? [];
  await markOutcomes(q, [...(retracted ?? []), ...marks]);
  return { status: 204, versionId: deletion.versionId, lastUpdated: deletion.lastUpdated };
}
