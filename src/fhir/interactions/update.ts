import type { Resource } from '@medplum/fhirtypes';
import { isRoutedType, type RouteDecision } from '../../ingest/route-result.ts';
import { badRequest, fail, methodNotAllowed, multipleMatches, preconditionFailed } from '../../shared/outcomes.ts';
import { IMMUTABLE_RESOURCE_TYPES } from '../../shared/resource-types.ts';
import { markOutcomes } from '../../store/batch-write.ts';
import type { Queryable } from '../../store/db.ts';
import { readCurrent } from '../../store/resource-store.ts';
import { matchIds } from '../../store/search-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { parseSearch } from '../search/parse-search.ts';
import { isValidId } from '../validate.ts';
import { createResource, validateCounted } from './create.ts';
import { refuseMatchBeyondIdentifier } from './match-criteria.ts';
import { notKept } from './not-kept.ts';
import { subjectsChangedBy } from './outcome-marks.ts';
import { refuseDerivedStored, refuseDerivedWrite } from './service-owned.ts';
import { hasTrialRecords, mayWithdraw, withdrawStored } from './withdraw.ts';
import { labelled, putVersion } from './write-version.ts';

export interface UpdateOptions {
  /** If-Match header value, e.g. W/"3". */
  ifMatch?: string | undefined;
  /** See CreateOptions.predecided. */
  predecided?: { decision: RouteDecision | undefined } | undefined;
  /** See CreateOptions.storedAbsent. */
  storedAbsent?: boolean | undefined;
}

function parseIfMatch(v: string): number | undefined {
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(v.trim());
  return m ? Number(m[1]) : undefined;
}

/** Content equal but for meta.versionId/lastUpdated: an update that changes nothing. */
function sameContent(stored: string, incoming: Resource): boolean {
  const a = JSON.parse(stored) as Resource;
  const strip = (r: Resource): string => {
    const { meta, id: _id, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, ...m } = meta ?? {};
    return JSON.stringify({ ...rest, meta: m });
  };
  return strip(a) === strip(incoming);
}

/**
 * Must run inside a transaction: it locks the current row (SELECT … FOR UPDATE) so concurrent
 * updates get consecutive versions and If-Match is checked against what is really current.
 */
export async function updateResource(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  id: string,
  resource: Resource,
  options: UpdateOptions = {},
): Promise<FhirResponse> {
  ctx.authorize(type, 'update');
  if (IMMUTABLE_RESOURCE_TYPES.has(type)) fail(methodNotAllowed(`${type} cannot be changed`));
  if (resource.resourceType !== type) {
    fail(badRequest(`resourceType ${resource.resourceType} does not match the URL type ${type}`, 'resourceType'));
  }
  if (!isValidId(id)) fail(badRequest(`Invalid id ${id}`, 'id'));
  if (resource.id === undefined) fail(badRequest('Resource id is required for update', `${type}.id`));
  if (resource.id !== id) fail(badRequest(`Resource id ${resource.id} does not match the URL id ${id}`, `${type}.id`));
  refuseDerivedWrite(ctx, type, id, resource);
  if (!ctx.intake && !options.predecided) ctx = await gatedIfKeptSource(ctx, q, type, id);
  const decision = options.predecided ? options.predecided.decision : await ctx.intake?.decide(q, resource);
  if (decision && !decision.retain) {
    if (!options.storedAbsent && mayWithdraw(decision)) {
      const withdrawn = await withdrawStored(ctx, q, type, id, decision);
      if (withdrawn) return withdrawn;
    }
    return notKept(q, resource, decision);
  }
  validateCounted(ctx, resource, decision !== undefined);
  const records = ctx.intake?.trialRecords(resource, `${type}/${id}`, decision) ?? [];
  // Labelled before it is compared with what is stored, so a re-delivery is still a duplicate.
  resource = await labelled(ctx, q, resource);

  const current = await readCurrent(q, type, id, true);
  refuseDerivedStored(ctx, type, id, current?.content);
  if (options.ifMatch !== undefined) {
    const expected = parseIfMatch(options.ifMatch);
    if (expected === undefined) fail(badRequest(`Invalid If-Match ${options.ifMatch}`, 'If-Match'));
    if (!current || current.versionId !== expected) {
      fail(preconditionFailed(`If-Match ${options.ifMatch} does not match the current version ${current?.versionId}`));
    }
  }
  if (!current) {
    // Update as create: the client chose the id (FHIR http.html#upsert).
    ctx.authorize(type, 'create');
    const stored = await putVersion(q, ctx.baseUrl, resource, id, 1, 'PUT');
    await upsertTrialRecords(ctx, q, records);
    await markOutcomes(q, await changedSubjects(q, type, id, decision, resource));
    if (decision) ctx.intake?.count('retained', type);
    return {
      status: 201,
      body: stored.content,
      location: `${ctx.baseUrl}/${type}/${id}/_history/1`,
      versionId: 1,
      lastUpdated: stored.lastUpdated,
    };
  }
  if (decision?.retain && !current.deleted && current.content && isOlder(resource, current.content)) {
    // An older version arriving after a newer one (a delayed retry) never overwrites it.
    ctx.intake?.count('duplicate', type);
    return {
      status: 200,
      body: ctx.can(type, 'read') ? current.content : undefined,
      location: `${ctx.baseUrl}/${type}/${id}/_history/${current.versionId}`,
      versionId: current.versionId,
      lastUpdated: current.lastUpdated,
    };
  }
  if (!current.deleted && current.content && sameContent(current.content, resource)) {
    if (decision) ctx.intake?.count('duplicate', type);
    return {
      status: 200,
      body: current.content,
      location: `${ctx.baseUrl}/${type}/${id}/_history/${current.versionId}`,
      versionId: current.versionId,
      lastUpdated: current.lastUpdated,
    };
  }
  const versionId = current.versionId + 1;
  const stored = await putVersion(q, ctx.baseUrl, resource, id, versionId, 'PUT');
  await upsertTrialRecords(ctx, q, records);
  await markOutcomes(q, await changedSubjects(q, type, id, decision, resource, current.content));
  if (decision) ctx.intake?.count('retained', type);
  return {
    status: current.deleted ? 201 : 200,
    body: stored.content,
    location: `${ctx.baseUrl}/${type}/${id}/_history/${versionId}`,
    versionId,
    lastUpdated: stored.lastUpdated,
  };
}

/**
 * A new version of a source the trial kept goes through the trial's gate whoever writes it (an
 * admin correcting a value, as the EHR would): its trial records follow it, or are retracted if it
 * leaves the trial, so outcomes never count a value the source no longer says. Anything else a
 * non-feed role writes, including a result it wrote itself for an enrolled patient, stays a plain
 * update: kept means a trial record was derived from it.
 */
async function gatedIfKeptSource(ctx: FhirContext, q: Queryable, type: string, id: string): Promise<FhirContext> {
  if (!ctx.trialGate || !isRoutedType(type)) return ctx;
  const current = await readCurrent(q, type, id, true);
  if (!current?.content || current.deleted) return ctx;
  const gate = ctx.trialGate();
  return (await hasTrialRecords(q, gate, type, id, current.content)) ? { ...ctx, intake: gate } : ctx;
}

/** The subjects whose outcomes this write changes: those a kept result is for, or the enrollment's. */
async function changedSubjects(
  q: Queryable,
  type: string,
  id: string,
  decision: RouteDecision | undefined,
  written: Resource,
  before?: string | null,
): Promise<string[]> {
  const routed = decision?.retain ? decision.enrollments.map((e) => e.researchSubjectId) : [];
  return [...routed, ...(await subjectsChangedBy(q, type, id, written, before))];
}

/** By the time the sender says it issued the version (Observation.issued). */
function isOlder(incoming: Resource, storedContent: string): boolean {
  const stored = JSON.parse(storedContent) as { issued?: string };
  const issued = (incoming as { issued?: string }).issued;
  if (!issued || !stored.issued) return false;
  const a = Date.parse(issued);
  const b = Date.parse(stored.issued);
  return !Number.isNaN(a) && !Number.isNaN(b) && a < b;
}

/** A corrected or retracted source changes its trial records as new versions, never duplicates. */
async function upsertTrialRecords(ctx: FhirContext, q: Queryable, records: Resource[]): Promise<void> {
  for (const r of records) {
    const current = await readCurrent(q, r.resourceType, r.id as string, true);
    if (!current) await putVersion(q, ctx.baseUrl, r, r.id as string, 1, 'PUT');
    else if (current.deleted || !current.content || !sameContent(current.content, r)) {
      await putVersion(q, ctx.baseUrl, r, r.id as string, current.versionId + 1, 'PUT');
    }
  }
}

/** PUT [type]?[search]: 0 matches create, 1 updates it, more is 412 (http.html#cond-update). */
export async function conditionalUpdate(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  query: URLSearchParams,
  resource: Resource,
  options: UpdateOptions = {},
): Promise<FhirResponse> {
  ctx.authorize(type, 'update');
  const search = parseSearch(type, query, true);
  if (search.filters.length === 0) fail(badRequest('Conditional update needs search criteria'));
  refuseMatchBeyondIdentifier(ctx, type, search);
  await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${type}?${query.toString()}`]);
  const ids = await matchIds(q, search, ctx.baseUrl, 2);
  if (ids.length > 1) fail(multipleMatches(`Conditional update matched more than one ${type}`));
  const match = ids[0];
  if (match === undefined) {
    if (resource.id !== undefined) return updateResource(ctx, q, type, resource.id, resource, options);
    return createResource(ctx, q, type, resource, { predecided: options.predecided });
  }
  if (resource.id !== undefined && resource.id !== match) {
    fail(badRequest(`Resource id ${resource.id} does not match the matched ${type}/${match}`, `${type}.id`));
  }
  return updateResource(ctx, q, type, match, { ...resource, id: match }, options);
}
