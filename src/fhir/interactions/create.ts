import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, fail, methodNotAllowed, multipleMatches } from '../../shared/outcomes.ts';
import { IMMUTABLE_RESOURCE_TYPES } from '../../shared/resource-types.ts';
import { writeFirstVersions } from '../../store/batch-write.ts';
import type { Queryable } from '../../store/db.ts';
import { readCurrent } from '../../store/resource-store.ts';
import { matchIds } from '../../store/search-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { parseSearch } from '../search/parse-search.ts';
import type { WritePlan } from '../write-pipeline.ts';
import { refuseMatchBeyondIdentifier } from './match-criteria.ts';
import { refuseDerivedWrite } from './service-owned.ts';
import { updateResource } from './update.ts';
import { labelled, prepareVersion, validateCounted } from './write-version.ts';

export interface CreateOptions {
  /** If-None-Exist: the query part of a search URL. */
  ifNoneExist?: string | undefined;
  /** Use this id (transactions assign ids for urn:uuid entries before writing). */
  assignedId?: string | undefined;
}

/** The unique index that makes a re-delivered result collide (migration 0006). */
export const IDENTIFIER_INDEX = 'sp_token_observation_identifier';

export async function createResource(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  resource: Resource,
  options: CreateOptions = {},
  plan: WritePlan = {},
): Promise<FhirResponse> {
  ctx.authorize(type, 'create');
  if (resource.resourceType !== type) {
    fail(badRequest(`resourceType ${resource.resourceType} does not match the URL type ${type}`, 'resourceType'));
  }
  if (IMMUTABLE_RESOURCE_TYPES.has(type) && ctx.access) {
    fail(methodNotAllowed(`${type} is written by the server only`));
  }
  refuseDerivedWrite(ctx, type, undefined, resource);
  const gate = ctx.gate;
  const decision = plan.decided ? plan.decided.decision : await gate?.decide(q, resource);
  if (gate && decision && !decision.retain) {
    // A re-delivery of a stored result may take it out (the gate looks it up by identifier).
    const storedAbsent = (plan.storedAbsent ?? false) || options.assignedId !== undefined;
    return gate.notKept(ctx, q, { type, resource, decision, storedAbsent });
  }
  if (options.ifNoneExist !== undefined) {
    const existing = await conditionalMatch(ctx, q, type, options.ifNoneExist);
    if (existing) return existing;
  }
  // A feed that re-sends a result (same identifier) repeats or corrects it; it never duplicates it.
  if (decision?.retain && !plan.defer && options.assignedId === undefined && !plan.optimistic) {
    const existing = await findByIdentifier(ctx, q, resource);
    if (existing)
      return updateResource(ctx, q, type, existing, { ...resource, id: existing }, {}, { decided: { decision } });
  }
  validateCounted(ctx, resource, decision !== undefined);
  const id = options.assignedId ?? randomUUID();
  const prepared = prepareVersion(ctx.baseUrl, await labelled(ctx, q, resource), id, 1, 'POST');
  // Derived before anything is written: a write that cannot be derived from stores nothing.
  const records = countRejected(
    ctx,
    type,
    () =>
      gate
        ?.derive(resource, `${type}/${id}`, decision)
        .map((r) => prepareVersion(ctx.baseUrl, r, r.id as string, 1, 'POST').write) ?? [],
  );
  const stored = prepared.stored;
  // A kept write marks what it makes stale, in the same statement that stores it.
  const marks = [
    ...(gate && decision ? gate.marks(decision) : []),
    ...((await ctx.pipeline?.marksOf(q, type, id, resource)) ?? []),
  ];
  if (plan.defer) {
    plan.defer.writes.push(prepared.write, ...records);
    plan.defer.marks.push(...marks);
  } else if (ctx.auditInline) {
    const audit = ctx.auditInline(`${type}/${id}`);
    const writes = [prepared.write, ...records, audit.write];
    // Outside a transaction (q is the pool), concurrent single creates share one commit.
    if (plan.optimistic && ctx.writeBatcher) await ctx.writeBatcher.submit(writes, marks);
    else await writeFirstVersions(q, writes, marks);
    audit.done();
  } else {
    await writeFirstVersions(q, [prepared.write, ...records], marks);
  }
  if (decision) gate?.count('retained', type);
  return {
    status: 201,
    body: stored.content,
    location: `${ctx.baseUrl}/${type}/${stored.id}/_history/1`,
    versionId: 1,
    lastUpdated: stored.lastUpdated,
  };
}

function countRejected<T>(ctx: FhirContext, type: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    ctx.gate?.count('rejected', type);
    throw err;
  }
}

async function findByIdentifier(ctx: FhirContext, q: Queryable, resource: Resource): Promise<string | undefined> {
  const identifiers = (resource as { identifier?: { system?: string; value?: string }[] }).identifier ?? [];
  for (const i of identifiers) {
    if (!i.system || !i.value) continue;
    // Serialise concurrent deliveries of one result, so that two racing copies cannot both create.
    await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${resource.resourceType}|${i.system}|${i.value}`]);
    const search = parseSearch(resource.resourceType, [['identifier', `${i.system}|${i.value}`]], true);
    const ids = await matchIds(q, search, ctx.baseUrl, 2);
    if (ids.length > 1)
      fail(multipleMatches(`identifier ${i.system}|${i.value} matches more than one ${resource.resourceType}`));
    if (ids[0]) return ids[0];
  }
  return undefined;
}

/** 0 matches: undefined (go on and create); 1: 200 with the match; more: 412. */
async function conditionalMatch(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  query: string,
): Promise<FhirResponse | undefined> {
  const search = parseSearch(type, new URLSearchParams(query.startsWith('?') ? query.slice(1) : query), true);
  if (search.filters.length === 0) fail(badRequest('If-None-Exist must contain search criteria', 'If-None-Exist'));
  refuseMatchBeyondIdentifier(ctx, type, search);
  // Serialise conditional creates of the same criteria, so two concurrent ones cannot both create.
  await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${type}?${query}`]);
  const ids = await matchIds(q, search, ctx.baseUrl, 2);
  if (ids.length > 1) fail(multipleMatches(`If-None-Exist matched more than one ${type}`));
  if (ids.length === 0) return undefined;
  const v = await readCurrent(q, type, ids[0] as string);
  return {
    status: 200,
    // A write-only client (an EHR feed) learns that it matched, not what is stored.
    body: ctx.can(type, 'read') ? v?.content : undefined,
    location: `${ctx.baseUrl}/${type}/${v?.id}/_history/${v?.versionId}`,
    versionId: v?.versionId,
    lastUpdated: v?.lastUpdated,
  };
}
