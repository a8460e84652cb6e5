/**
 * One entry point for a FHIR interaction given as method + relative URL, shared by the HTTP routes
 * and by batch/transaction entries, so both run exactly the same checks.
 */
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, fail, methodNotAllowed, notFound } from '../shared/outcomes.ts';
import { isSupportedResourceType } from '../shared/resource-types.ts';
import type { Queryable } from '../store/db.ts';
import { everything } from './everything/patient-everything.ts';
import type { FhirContext, FhirResponse } from './fhir-context.ts';
import { conditionalUpdate } from './interactions/conditional-update.ts';
import { createResource } from './interactions/create.ts';
import { deleteResource } from './interactions/delete.ts';
import { type JsonPatch, patchResource } from './interactions/patch.ts';
import { readResource, vreadResource } from './interactions/read.ts';
import { instanceHistory, searchResources, typesHistory } from './interactions/search.ts';
import { updateResource } from './interactions/update.ts';
import { elementsOrFail, subsetText, summarySubsetting } from './search/subsetting.ts';
import type { WritePlan } from './write-pipeline.ts';

export interface FhirRequest {
  method: string;
  /** Relative to the FHIR base: "Patient", "Patient/1", "Observation?code=…", "Patient/1/_history/2". */
  path: string[];
  query: URLSearchParams;
  body?: Resource | undefined;
  /** PATCH: the JSON Patch document. */
  patch?: JsonPatch | undefined;
  ifMatch?: string | undefined;
  ifNoneExist?: string | undefined;
  strict: boolean;
  /** Pre-assigned id for a transaction's urn:uuid POST. */
  assignedId?: string | undefined;
}

export function splitUrl(url: string): { path: string[]; query: URLSearchParams } {
  const q = url.indexOf('?');
  const pathPart = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const path = pathPart.split('/').filter((s) => s.length > 0);
  return { path, query };
}

/** `plan`: how the caller planned the write (the bundle processor, the single-POST route); see WritePlan. */
export async function dispatch(
  ctx: FhirContext,
  q: Queryable,
  req: FhirRequest,
  plan: WritePlan = {},
): Promise<FhirResponse> {
  const [type, id, sub, vid, ...extra] = req.path;
  if (!type) fail(badRequest('Missing resource type'));
  const method = req.method.toUpperCase();
  if (type === '_history' && id === undefined) {
    if (method !== 'GET') fail(methodNotAllowed(`${method} is not allowed on history`));
    return typesHistory(ctx, q, undefined, req.query);
  }
  if (!isSupportedResourceType(type)) fail(notFound(`Resource type ${type} is not supported by this server`));
  if (extra.length > 0) fail(notFound(`Unknown path ${req.path.join('/')}`));

  if (id === undefined) {
    if (method === 'GET') return searchResources(ctx, q, type, req.query, req.strict);
    if (method === 'POST') return createResource(ctx, q, type, requireBody(req), req, plan);
    if (method === 'PUT' && [...req.query.keys()].length > 0) {
      return conditionalUpdate(ctx, q, type, req.query, requireBody(req), req, plan);
    }
    fail(methodNotAllowed(`${method} is not allowed on ${type}`));
  }
  if (id === '_history' && sub === undefined) {
    if (method !== 'GET') fail(methodNotAllowed(`${method} is not allowed on history`));
    return typesHistory(ctx, q, type, req.query);
  }
  if (id === '_search' && sub === undefined) {
    if (method === 'POST' || method === 'GET') return searchResources(ctx, q, type, req.query, req.strict);
    fail(methodNotAllowed(`${method} is not allowed on ${type}/_search`));
  }
  if (sub === undefined) {
    if (method === 'GET') return withSubsetting(await readResource(ctx, q, type, id), req.query);
    if (method === 'PUT') return updateResource(ctx, q, type, id, requireBody(req), req, plan);
    if (method === 'DELETE') return deleteResource(ctx, q, type, id);
    if (method === 'PATCH' && req.patch) return patchResource(ctx, q, type, id, req.patch, req);
    fail(methodNotAllowed(`${method} is not allowed on ${type}/${id}`));
  }
  if (type === 'Patient' && sub === '$everything' && vid === undefined) {
    if (method !== 'GET') fail(methodNotAllowed(`${method} is not allowed on $everything`));
    return everything(ctx, q, id, req.query);
  }
  if (sub === '_history') {
    if (method !== 'GET') fail(methodNotAllowed(`${method} is not allowed on history`));
    if (vid === undefined) return instanceHistory(ctx, q, type, id, req.query);
    return withSubsetting(await vreadResource(ctx, q, type, id, vid), req.query);
  }
  fail(notFound(`Unknown path ${req.path.join('/')}`));
}

/** _summary and _elements on a read (search.html#summary applies to reads too, as on HAPI). */
function withSubsetting(r: FhirResponse, query: URLSearchParams): FhirResponse {
  const summary = query.get('_summary');
  const elements = query.getAll('_elements');
  const subsetting = elements.length > 0 ? elementsOrFail(elements) : summarySubsetting(summary);
  if (!subsetting && summary !== null && summary !== 'false') {
    fail(badRequest(`_summary=${summary} is not supported on a read`, '_summary'));
  }
  return subsetting && r.body ? { ...r, body: subsetText(r.body, subsetting) } : r;
}

function requireBody(req: FhirRequest): Resource {
  if (!req.body) fail(badRequest('A resource body is required'));
  return req.body;
}
