import type { Resource } from '@medplum/fhirtypes';
import { badRequest, conflict, fail, methodNotAllowed, preconditionFailed } from '../../shared/outcomes.ts';
import { IMMUTABLE_RESOURCE_TYPES } from '../../shared/resource-types.ts';
import { markOutcomes } from '../../store/batch-write.ts';
import type { Queryable } from '../../store/db.ts';
import { findObservationIds, identifierKeys } from '../../store/identifier-lookup.ts';
import { readCurrent } from '../../store/resource-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { isValidId } from '../validate.ts';
import type { WriteDecision, WritePlan } from '../write-pipeline.ts';
import { refuseDerivedStored, refuseDerivedWrite } from './service-owned.ts';
import { labelled, putVersion, validateCounted } from './write-version.ts';

export interface UpdateOptions {
  /** If-Match header value, e.g. W/"3". */
  ifMatch?: string | undefined;
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
  plan: WritePlan = {},
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
  if (!ctx.gate && !plan.decided) ctx = await gatedIfKeptSource(ctx, q, type, id);
  const gate = ctx.gate;
  const decision = plan.decided ? plan.decided.decision : await gate?.decide(q, resource);
  if (gate && decision && !decision.retain) {
    // A stored version of it may be taken out (the gate withdraws it).
    return gate.notKept(ctx, q, { type, resource, decision, id, storedAbsent: plan.storedAbsent ?? false });
  }
  validateCounted(ctx, resource, decision !== undefined);
  const records = gate?.derive(resource, `${type}/${id}`, decision) ?? [];
  // Labelled before it is compared with what is stored, so a re-delivery is still a duplicate.
  resource = await labelled(ctx, q, resource);

  const current = await readCurrent(q, type, id, true);
  refuseDerivedStored(ctx, type, id, current?.content);
  await refuseHeldIdentifier(q, type, id, resource, current?.deleted ? null : current?.content);
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
    await upsertDerived(ctx, q, records);
    await markOutcomes(q, await changedMarks(ctx, q, type, id, decision, resource));
    if (decision) gate?.count('retained', type);
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
    gate?.count('duplicate', type);
    return {
      status: 200,
      body: ctx.can(type, 'read') ? current.content : undefined,
      location: `${ctx.baseUrl}/${type}/${id}/_history/${current.versionId}`,
      versionId: current.versionId,
      lastUpdated: current.lastUpdated,
    };
  }
  if (!current.deleted && current.content && sameContent(current.content, resource)) {
    if (decision) gate?.count('duplicate', type);
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
  await upsertDerived(ctx, q, records);
  await markOutcomes(q, await changedMarks(ctx, q, type, id, decision, resource, current.content));
  if (decision) gate?.count('retained', type);
  return {
    status: current.deleted ? 201 : 200,
    body: stored.content,
    location: `${ctx.baseUrl}/${type}/${id}/_history/${versionId}`,
    versionId,
    lastUpdated: stored.lastUpdated,
  };
}

/**
 * A new version of a source the pipeline kept goes through its gate whoever writes it (for the
 * trial: an admin correcting a value, as the EHR would): what was derived from it follows it, or is
 * retracted if it is no longer kept, so outcomes never count a value the source no longer says.
 * Anything else a caller without a gate writes, including a result it wrote itself for an enrolled
 * patient, stays a plain update: kept means something was derived from it.
 */
async function gatedIfKeptSource(ctx: FhirContext, q: Queryable, type: string, id: string): Promise<FhirContext> {
  const gate = ctx.pipeline?.session();
  if (!gate?.decides(type)) return ctx;
  const current = await readCurrent(q, type, id, true);
  if (!current?.content || current.deleted) return ctx;
  return (await gate.keptSource(q, type, id, current.content)) ? { ...ctx, gate } : ctx;
}

/** The marks this write leaves: those of a kept write, and those of any write of its type. */
async function changedMarks(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  id: string,
  decision: WriteDecision | undefined,
  written: Resource,
  before?: string | null,
): Promise<string[]> {
  const kept = ctx.gate && decision ? ctx.gate.marks(decision) : [];
  return [...kept, ...((await ctx.pipeline?.marksOf(q, type, id, written, before)) ?? [])];
}

/**
 * A business identifier names one Observation (the unique index of migration 0006): a PUT that
 * would give this id an identifier another Observation holds is a conflict naming the holder, not
 * a racing write to retry. Looked up only when the identifiers are new to this id.
 */
async function refuseHeldIdentifier(
  q: Queryable,
  type: string,
  id: string,
  resource: Resource,
  stored: string | null | undefined,
): Promise<void> {
  if (type !== 'Observation') return;
  const keys = identifierKeys(resource as { identifier?: { system?: string; value?: string }[] });
  if (keys.length === 0) return;
  const had = new Set(
    stored
      ? identifierKeys(JSON.parse(stored) as { identifier?: { system?: string; value?: string }[] }).map(
          (k) => `${k.system}|${k.value}`,
        )
      : [],
  );
  const fresh = keys.filter((k) => !had.has(`${k.system}|${k.value}`));
  if (fresh.length === 0) return;
  for (const [key, holder] of await findObservationIds(q, fresh)) {
    if (holder !== id) {
      fail(
        conflict(
          `identifier ${key} is already held by Observation/${holder}: update that resource, or send this one without the identifier`,
          'Observation.identifier',
        ),
      );
    }
  }
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

/** A corrected or retracted source changes what was derived from it as new versions, never duplicates. */
async function upsertDerived(ctx: FhirContext, q: Queryable, records: Resource[]): Promise<void> {
  for (const r of records) {
    const current = await readCurrent(q, r.resourceType, r.id as string, true);
    if (!current) await putVersion(q, ctx.baseUrl, r, r.id as string, 1, 'PUT');
    else if (current.deleted || !current.content || !sameContent(current.content, r)) {
      await putVersion(q, ctx.baseUrl, r, r.id as string, current.versionId + 1, 'PUT');
    }
  }
}
