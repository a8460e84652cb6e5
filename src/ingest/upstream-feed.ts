/**
 * Feeding what comes from upstream (pulled, backfilled, or in a Subscription notification) through
 * the same path as a push from an EHR feed: a FHIR update (or create) dispatched with the ehr-feed
 * role and an intake session, so a pulled result and a pushed one become the same record, and a
 * result already held (same id or identifier) is a duplicate, not a second record.
 */
import { OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { roleAllows } from '../auth/roles.ts';
import { dispatch } from '../fhir/dispatch.ts';
import type { FhirContext } from '../fhir/fhir-context.ts';
import { statusOf } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';

export interface FeedResult {
  status: number;
  /** The error text when the adapter refused it (validation, units…). */
  error?: string;
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

export function createUpstreamFeed(deps: { db: Db; upstreamBase: string; context: () => FhirContext }): UpstreamFeed {
  return async (incoming) => {
    const resource = withoutVersion(localiseReferences(incoming, deps.upstreamBase));
    const ctx = deps.context();
    const put = resource.id !== undefined;
    try {
      const r = await deps.db.transaction((tx) =>
        dispatch(ctx, tx, {
          method: put ? 'PUT' : 'POST',
          path: put ? [resource.resourceType, resource.id as string] : [resource.resourceType],
          query: new URLSearchParams(),
          body: resource,
          strict: false,
        }),
      );
      return { status: r.status };
    } catch (err) {
      if (err instanceof OperationOutcomeError) {
        return { status: statusOf(err.outcome), error: err.outcome.issue?.[0]?.details?.text ?? err.message };
      }
      throw err;
    }
  };
}
