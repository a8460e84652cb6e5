/**
 * Shared by create, update and delete: stamps meta, indexes, and writes one version. The resource
 * text we store is the text we serve, so reads and exports never re-serialise.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../../store/db.ts';
import type { StoredVersion } from '../../store/resource-rows.ts';
import { type VersionWrite, writeVersion } from '../../store/resource-store.ts';
import type { FhirContext } from '../fhir-context.ts';
import { extractIndexRows } from '../search/index-values.ts';

export function stamp<T extends Resource>(resource: T, id: string, versionId: number, lastUpdated: string): T {
  const meta = { ...resource.meta, versionId: String(versionId), lastUpdated };
  // Key order: resourceType, id, meta first, as FHIR servers conventionally return them.
  const { resourceType, id: _ignored, meta: _old, ...rest } = resource;
  return { resourceType, id, meta, ...rest } as unknown as T;
}

/**
 * What a client's write is stored as: with the security labels the pipeline's gate attaches (the
 * trial labels an arm-revealing result, so masking can hide it in SQL), whichever role writes it.
 */
export function labelled<T extends Resource>(ctx: FhirContext, q: Queryable, resource: T): Promise<T> {
  const gate = ctx.gate ?? ctx.pipeline?.session();
  return gate ? gate.labelStored(q, resource) : Promise.resolve(resource);
}

/** Validation, counting a decided write that fails it as rejected. */
export function validateCounted(ctx: FhirContext, resource: Resource, decided: boolean): void {
  try {
    ctx.validator.validate(resource);
  } catch (err) {
    if (decided) ctx.gate?.count('rejected', resource.resourceType);
    throw err;
  }
}

/** Everything a write needs, computed without touching the database. */
export function prepareVersion(
  baseUrl: string,
  resource: Resource,
  id: string,
  versionId: number,
  method: 'POST' | 'PUT',
): { write: VersionWrite; stored: StoredVersion } {
  const lastUpdated = new Date().toISOString();
  const stamped = stamp(resource, id, versionId, lastUpdated);
  const content = JSON.stringify(stamped);
  return {
    write: {
      resourceType: resource.resourceType,
      id,
      versionId,
      lastUpdated,
      method,
      content,
      index: extractIndexRows(stamped, baseUrl),
    },
    stored: { resourceType: resource.resourceType, id, versionId, lastUpdated, deleted: false, content },
  };
}

export async function putVersion(
  q: Queryable,
  baseUrl: string,
  resource: Resource,
  id: string,
  versionId: number,
  method: 'POST' | 'PUT',
): Promise<StoredVersion> {
  const { write, stored } = prepareVersion(baseUrl, resource, id, versionId, method);
  await writeVersion(q, write, versionId === 1);
  return stored;
}

export function etag(versionId: number): string {
  return `W/"${versionId}"`;
}
