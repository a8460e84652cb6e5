/**
 * Patient/{id}/$everything (R4 patient-operation-everything), limited to what this adapter holds
 * about the patient: the Patient, its ResearchSubjects, results, trial records and outcomes,
 * questionnaires, adverse events, and what references its ResearchSubjects. Paged by keyset;
 * types the caller may not search are left out, and a blinded caller's exclusions apply in the
 * query (so nothing hidden takes room in a page).
 */
import { blindedSearchExclusions, isBlinded } from '../../auth/masking.ts';
import { parseDateRange } from '../../shared/date-range.ts';
import { badRequest, fail } from '../../shared/outcomes.ts';
import { SUPPORTED_RESOURCE_TYPES } from '../../shared/resource-types.ts';
import type { SearchFilter } from '../../shared/search-request.ts';
import type { Queryable } from '../../store/db.ts';
import { patientEverything } from '../../store/everything-store.ts';
import { NOT_EXPORTED_BY_DEFAULT } from '../bulk/export-spec.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { readResource } from '../interactions/read.ts';
import { MAX_COUNT, serverFilter } from '../search/parse-search.ts';
import { searchParamsFor } from '../search/search-params.ts';

const DEFAULT_EVERYTHING_COUNT = 100;

function link(relation: string, url: string): string {
  return JSON.stringify({ relation, url });
}

export async function everything(
  ctx: FhirContext,
  q: Queryable,
  patientId: string,
  params: URLSearchParams,
): Promise<FhirResponse> {
  await readResource(ctx, q, 'Patient', patientId);
  const applied: [string, string][] = [];
  let count = DEFAULT_EVERYTHING_COUNT;
  const countParam = params.get('_count');
  if (countParam !== null) {
    count = Number(countParam);
    if (!Number.isInteger(count) || count < 1) fail(badRequest('_count must be a positive integer', '_count'));
    count = Math.min(count, MAX_COUNT);
  }
  let since: string | undefined;
  const sinceParam = params.get('_since');
  if (sinceParam !== null) {
    since = parseDateRange(sinceParam)?.lo;
    if (!since) fail(badRequest(`Invalid _since ${sinceParam}`, '_since'));
    applied.push(['_since', sinceParam]);
  }
  const cursor = params.get('_cursor') ?? undefined;
  if (cursor !== undefined && !/^\d{1,19}$/.test(cursor)) fail(badRequest('Invalid paging cursor', '_cursor'));
  const requested = params
    .getAll('_type')
    .flatMap((v) => v.split(','))
    .filter((t) => t.length > 0);
  for (const t of requested) {
    if (!(SUPPORTED_RESOURCE_TYPES as readonly string[]).includes(t)) fail(badRequest(`Unknown _type ${t}`, '_type'));
  }
  if (requested.length > 0) applied.push(['_type', requested.join(',')]);
  const blinded = ctx.access !== undefined && isBlinded(ctx.access);
  const exclusions: { type: string | undefined; filter: SearchFilter }[] = [];
  const types = (requested.length > 0 ? requested : SUPPORTED_RESOURCE_TYPES).filter(
    (t) =>
      !(requested.length === 0 && NOT_EXPORTED_BY_DEFAULT.has(t)) &&
      ctx.can(t, 'search') &&
      !(blinded && blindedSearchExclusions(t).hideAll),
  );
  if (blinded) {
    for (const t of types) {
      for (const [code, value] of blindedSearchExclusions(t).exclude) {
        const f = serverFilter(t, code, value);
        // The security label is the same filter on every type: one condition covers them all.
        if (f && code === '_security' && !exclusions.some((x) => x.type === undefined)) {
          exclusions.push({ type: undefined, filter: f });
        } else if (f && code !== '_security') exclusions.push({ type: t, filter: f });
      }
    }
  }
  const refParams: [string, string][] = types.flatMap((t) =>
    [...searchParamsFor(t).values()]
      .filter(
        (d) =>
          d.type === 'reference' &&
          // Its rows are another parameter's (storedAs), which this list holds.
          !d.storedAs &&
          (d.targets.length === 0 || d.targets.includes('Patient') || d.targets.includes('ResearchSubject')),
      )
      .map((d): [string, string] => [t, d.code]),
  );
  const page = await patientEverything(q, {
    patientId,
    types,
    refParams,
    since,
    afterSeq: cursor,
    count,
    exclusions,
    baseUrl: ctx.baseUrl,
  });
  const base = `${ctx.baseUrl}/Patient/${patientId}/$everything`;
  const qs = (pairs: [string, string][]): string =>
    pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const links = [link('self', `${base}?${qs([...applied, ['_count', String(count)]])}`)];
  if (page.next) {
    links.push(link('next', `${base}?${qs([...applied, ['_count', String(count)], ['_cursor', page.next]])}`));
  }
  const entries = page.entries.map(
    (v) =>
      `{"fullUrl":${JSON.stringify(`${ctx.baseUrl}/${v.resourceType}/${v.id}`)},"resource":${v.content},"search":{"mode":"match"}}`,
  );
  const body = `{"resourceType":"Bundle","type":"searchset","timestamp":"${new Date().toISOString()}","link":[${links.join(',')}]${entries.length ? `,"entry":[${entries.join(',')}]` : ''}}`;
  return { status: 200, body };
}
