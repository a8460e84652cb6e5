/**
 * Feeding what comes from upstream (pulled, backfilled, or in a Subscription notification) through
 * the same path as a push from an EHR feed: a FHIR update (or create) dispatched with the ehr-feed
 * role and an intake session, so a pulled result and a pushed one become the same record, and a
 * result already held (same id or identifier) is a duplicate, not a second record. A result the EHR
 * pushed under its accession number and that the pull reads under the EHR's own id is written to
 * the record that holds the identifier: one trial record whichever arrives first. A resource that
 * fails is put on the dead-letter list and reported, never thrown: one bad result does not stop the
 * rest of a page, nor a subject's cursor.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { roleAllows } from '../auth/roles.ts';
import { dispatch } from '../fhir/dispatch.ts';
import type { FhirContext, FhirResponse } from '../fhir/fhir-context.ts';
import { fail, multipleMatches, statusOf } from '../shared/outcomes.ts';
import type { Db, Queryable } from '../store/db.ts';
import { addDeadLetter } from '../store/dead-letter-store.ts';
import { findObservationIds, identifierKeys, lockIdentifiers } from '../store/identifier-lookup.ts';

export interface FeedResult {
  status: number;
  /** The error text when the adapter refused it (validation, units…) or could not store it. */
  error?: string;
  /** The dead letter that now holds a resource that failed. */
  deadLetter?: string;
}

export type UpstreamFeed = (resource: Resource) => Promise<FeedResult>;

/** Whether an EHR feed may write this type at all (others in a notification are ignored). */
export function isFeedType(resourceType: string): boolean {
  return resourceType !== 'Bundle' && roleAllows('ehr-feed', resourceType, 'update');
}

/** References to the upstream server become relative, as a feed pushing its own ids sends them. */
export function localiseReferences<T>(value: T, upstreamBase: string): T {
  const prefix = `${upstreamBase.replace(/\/+$/, '')}/`;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        out[k] = k === 'reference' && typeof x === 'string' && x.startsWith(prefix) ? x.slice(prefix.length) : walk(x);
      }
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

/** Upstream's version bookkeeping is not ours: the store assigns versionId and lastUpdated. */
function withoutVersion(resource: Resource): Resource {
  if (!resource.meta) return resource;
  const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta;
  const { meta: _m, ...rest } = resource;
  return (Object.keys(meta).length > 0 ? { ...rest, meta } : rest) as Resource;
}

/**
 * Writes a resource read from upstream (or replayed from the dead-letter list) under its own id,
 * or, when another Observation already holds one of its business identifiers, as the next version
 * of that one. Must run in a transaction: the identifier lock is held until it ends.
 */
export async function writeFedResource(ctx: FhirContext, tx: Queryable, resource: Resource): Promise<FhirResponse> {
  let target = resource;
  if (resource.resourceType === 'Observation' && resource.id !== undefined) {
    const keys = identifierKeys(resource);
    if (keys.length > 0) {
      await lockIdentifiers(tx, resource.resourceType, keys);
      const holders = new Set((await findObservationIds(tx, keys)).values());
      holders.delete(resource.id);
      if (holders.size > 1) {
        fail(
          multipleMatches(
            `the identifiers of Observation/${resource.id} are held by ${[...holders].map((h) => `Observation/${h}`).join(' and ')}`,
          ),
        );
      }
      const [holder] = holders;
      if (holder !== undefined) target = { ...resource, id: holder };
    }
  }
  const put = target.id !== undefined;
  return dispatch(ctx, tx, {
    method: put ? 'PUT' : 'POST',
    path: put ? [target.resourceType, target.id as string] : [target.resourceType],
    query: new URLSearchParams(),
    body: target,
    strict: false,
  });
}

function failure(err: unknown): { status: number; error: string } {
  if (err instanceof OperationOutcomeError) {
    return { status: statusOf(err.outcome), error: err.outcome.issue?.[0]?.details?.text ?? err.message };
  }
  return { status: 500, error: err instanceof Error ? err.message : String(err) };
}

export function createUpstreamFeed(deps: { db: Db; upstreamBase: string; context: () => FhirContext }): UpstreamFeed {
  return async (incoming) => {
    const resource = withoutVersion(localiseReferences(incoming, deps.upstreamBase));
    const ctx = deps.context();
    try {
      const r = await deps.db.transaction((tx) => writeFedResource(ctx, tx, resource));
      return { status: r.status };
    } catch (err) {
      const { status, error } = failure(err);
      // Kept for an admin to replay once the cause is fixed; a store that cannot take even this throws.
      const name = `${resource.resourceType}/${resource.id ?? '(new)'}`;
      const deadLetter = await addDeadLetter(
        deps.db,
        resource.resourceType,
        JSON.stringify(resource),
        `read from upstream as ${name}, not stored: ${status} ${error}`,
      );
      return { status, error, deadLetter };
    }
  };
}
