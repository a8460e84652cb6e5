/** PUT [type]?[search] (http.html#cond-update): an update or a create, whichever the match says. */
import type { Resource } from '@medplum/fhirtypes';
import { badRequest, fail, multipleMatches } from '../../shared/outcomes.ts';
import type { Queryable } from '../../store/db.ts';
import { matchIds } from '../../store/search-store.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { parseSearch } from '../search/parse-search.ts';
import type { WritePlan } from '../write-pipeline.ts';
import { createResource } from './create.ts';
import { refuseMatchBeyondIdentifier } from './match-criteria.ts';
import { type UpdateOptions, updateResource } from './update.ts';

/** PUT [type]?[search]: 0 matches create, 1 updates it, more is 412 (http.html#cond-update). */
export async function conditionalUpdate(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  query: URLSearchParams,
  resource: Resource,
  options: UpdateOptions = {},
  plan: WritePlan = {},
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
    if (resource.id !== undefined) return updateResource(ctx, q, type, resource.id, resource, options, plan);
    return createResource(ctx, q, type, resource, {}, { decided: plan.decided });
  }
  if (resource.id !== undefined && resource.id !== match) {
    fail(badRequest(`Resource id ${resource.id} does not match the matched ${type}/${match}`, `${type}.id`));
  }
  return updateResource(ctx, q, type, match, { ...resource, id: match }, options, plan);
}
