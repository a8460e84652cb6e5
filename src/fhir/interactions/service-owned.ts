/**
 * Derived data is the service's alone: trial records, outcomes, their Provenance, MeasureReports,
 * Flags, suggested AdverseEvents and Groups are written by the service's own stages, never through
 * the API, whichever role, id, route (PUT, POST, PATCH, DELETE, conditional, Bundle entry) a client
 * uses. A client write that replaced an outcome would strip its labels and leave the outcome worker
 * failing on the id it thinks free (issue 17).
 *
 * Three marks, none of which a client can set: the types only the service writes; the id prefixes
 * the service derives its ids with; and the tag system every derived resource is stored with, which
 * no client resource may carry (so a stored one was set by the service). What they are is the
 * registered write pipeline's (`WritePipeline.derived`: the trial's in src/ingest/trial-pipeline.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import { fail, forbidden } from '../../shared/outcomes.ts';
import type { FhirContext } from '../fhir-context.ts';
import type { DerivedData, WriteContext } from '../write-pipeline.ts';

function carriesServiceTag(derived: DerivedData, r: { meta?: { tag?: { system?: string }[] } } | undefined): boolean {
  return r?.meta?.tag?.some((t) => t.system === derived.tagSystem) ?? false;
}

function reservedId(derived: DerivedData, type: string, id: string | undefined): boolean {
  return id !== undefined && derived.mixedTypes.has(type) && derived.idPrefixes.some((p) => id.startsWith(p));
}

/**
 * Refuses (403) a client's write of derived data, before anything is read or written: by type, by
 * the id it names, or by the service's tag on what it sends. The service's own stages have no
 * access context and are never refused.
 */
export function refuseDerivedWrite(
  ctx: FhirContext,
  type: string,
  id: string | undefined,
  incoming: Resource | undefined,
): void {
  const derived = ctx.pipeline?.derived;
  if (!ctx.access || !derived) return;
  const ownCreate = id === undefined && (ctx.serviceCreates?.has(type) ?? false);
  if (derived.serviceOnlyTypes.has(type) && !ownCreate)
    fail(forbidden(`${type} is derived by the service; clients may not write it`));
  if (reservedId(derived, type, id))
    fail(forbidden(`${type}/${id} is derived by the service; clients may not write it`));
  if (carriesServiceTag(derived, incoming)) {
    fail(forbidden(`meta.tag ${derived.tagSystem} is set by the service only`));
  }
}

/** The same refusal for what is stored: a version the service wrote carries its tag. */
export function refuseDerivedStored(
  ctx: WriteContext,
  type: string,
  id: string,
  storedContent: string | null | undefined,
): void {
  const derived = ctx.pipeline?.derived;
  if (!ctx.access || !derived || !storedContent) return;
  if (carriesServiceTag(derived, JSON.parse(storedContent) as Resource)) {
    fail(forbidden(`${type}/${id} is derived by the service; clients may not write it`));
  }
}
