import type { Resource } from '@medplum/fhirtypes';
import { ARM_REVEALING_SECURITY_LABEL, isArmRevealing } from '../../auth/masking.ts';
import { fail, gone, notFound } from '../../shared/outcomes.ts';
import type { Queryable } from '../../store/db.ts';
import { everLabelled } from '../../store/history-store.ts';
import { readCurrent, readVersion } from '../../store/resource-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { isValidId } from '../validate.ts';
import { hiddenFrom } from './search.ts';

// A resource hidden from a blinded caller answers exactly as one that was never stored: the same
// 404 and text, no ETag or Last-Modified, and a deletion of it is not a 410.
async function hidden(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  id: string,
  content: string | null,
): Promise<boolean> {
  if (!hiddenFrom(ctx)) return false;
  if (content !== null) return isArmRevealing(JSON.parse(content) as Resource);
  return everLabelled(q, type, id, ARM_REVEALING_SECURITY_LABEL);
}

export async function readResource(ctx: FhirContext, q: Queryable, type: string, id: string): Promise<FhirResponse> {
  ctx.authorize(type, 'read');
  if (!isValidId(id)) fail(notFound(`${type}/${id} not found`));
  const v = await readCurrent(q, type, id);
  if (!v || (await hidden(ctx, q, type, id, v.deleted ? null : (v.content ?? null))))
    fail(notFound(`${type}/${id} not found`));
  if (v.deleted) fail(gone(`${type}/${id} was deleted`));
  return { status: 200, body: v.content, versionId: v.versionId, lastUpdated: v.lastUpdated };
}

export async function vreadResource(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  id: string,
  vid: string,
): Promise<FhirResponse> {
  ctx.authorize(type, 'read');
  const versionId = Number(vid);
  if (!isValidId(id) || !Number.isInteger(versionId) || versionId < 1) {
    fail(notFound(`${type}/${id}/_history/${vid} not found`));
  }
  const v = await readVersion(q, type, id, versionId);
  // Any version of a resource that was ever hidden is hidden, as its history is (search.ts).
  if (!v || (hiddenFrom(ctx) && (await everLabelled(q, type, id, ARM_REVEALING_SECURITY_LABEL)))) {
    fail(notFound(`${type}/${id}/_history/${vid} not found`));
  }
  if (v.deleted) fail(gone(`${type}/${id} version ${vid} is a deletion`));
  return { status: 200, body: v.content, versionId: v.versionId, lastUpdated: v.lastUpdated };
}
