import type { Queryable } from '../../store/db.ts';
import { readCurrent, readVersion } from '../../store/resource-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { fail, gone, notFound } from '../outcomes.ts';
import { isValidId } from '../validate.ts';

export async function readResource(ctx: FhirContext, q: Queryable, type: string, id: string): Promise<FhirResponse> {
  ctx.authorize(type, 'read');
  if (!isValidId(id)) fail(notFound(`${type}/${id} not found`));
  const v = await readCurrent(q, type, id);
  if (!v) fail(notFound(`${type}/${id} not found`));
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
  if (!v) fail(notFound(`${type}/${id}/_history/${vid} not found`));
  if (v.deleted) fail(gone(`${type}/${id} version ${vid} is a deletion`));
  return { status: 200, body: v.content, versionId: v.versionId, lastUpdated: v.lastUpdated };
}
