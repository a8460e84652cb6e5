/**
 * Search and history answer with Bundles assembled as text around the stored resource texts, so a
 * page of results is never parsed and re-serialised on the way out.
 */
import {
  ARM_REVEALING_SECURITY_LABEL,
  assertQueryAllowed,
  blindedSearchExclusions,
  isBlinded,
} from '../../auth/masking.ts';
import { parseDateRange } from '../../shared/date-range.ts';
import { badRequest, fail, notFound } from '../../shared/outcomes.ts';
import { SUPPORTED_RESOURCE_TYPES } from '../../shared/resource-types.ts';
import type { Subsetting } from '../../shared/search-request.ts';
import { encodeCursor } from '../../shared/search-request.ts';
import type { Queryable } from '../../store/db.ts';
import { everLabelled, type HistoryCursor, readTypesHistory } from '../../store/history-store.ts';
import type { StoredVersion } from '../../store/resource-rows.ts';
import { readHistory } from '../../store/resource-store.ts';
import { boundFromRows, CURRENT_BOUND_SQL, runSearch, searchSettings } from '../../store/search-store.ts';
import { withTimeBudget } from '../../store/time-budget.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { DEFAULT_COUNT, MAX_COUNT, parseSearch, type SearchParamsInput, serverFilter } from '../search/parse-search.ts';
import { subsetText } from '../search/subsetting.ts';
import { isValidId } from '../validate.ts';
import { searchAuditTrail } from './audit-search.ts';

function link(relation: string, url: string): string {
  return JSON.stringify({ relation, url });
}

function queryString(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

function entry(baseUrl: string, v: StoredVersion, mode: 'match' | 'include', subsetting?: Subsetting): string {
  // Only what _elements or _summary asks for pays for a parse; everything else goes out as stored.
  const content = subsetting && v.content ? subsetText(v.content, subsetting) : v.content;
  return `{"fullUrl":${JSON.stringify(`${baseUrl}/${v.resourceType}/${v.id}`)},"resource":${content},"search":{"mode":"${mode}"}}`;
}

export async function searchResources(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  params: SearchParamsInput,
  strict: boolean,
): Promise<FhirResponse> {
  ctx.authorize(type, 'search');
  const pairs = [...params];
  if (ctx.access) assertQueryAllowed(type, new URLSearchParams(pairs), ctx.access);
  // The audit trail has tables of its own (src/store/audit-store.ts).
  if (type === 'AuditEvent') return searchAuditTrail(ctx, q, pairs, strict);
  const req = parseSearch(type, pairs, strict, ctx.searchLimits);
  if (ctx.access && isBlinded(ctx.access)) {
    const hidden = blindedSearchExclusions(type);
    if (hidden.hideAll) req.filters.push({ code: '_id', type: 'id', modifier: undefined, values: [], targets: [] });
    for (const [code, value] of hidden.exclude) {
      const f = serverFilter(type, code, value);
      if (f) req.exclusions.push(f);
    }
  }
  for (const inc of [...req.includes, ...req.revincludes]) ctx.authorize(inc.targetType ?? inc.sourceType, 'search');
  // A search of its own (not a Bundle entry inside a transaction) runs within the request's time budget.
  const budget = q === ctx.db ? ctx.searchBudget : undefined;
  // A first page's paging bound is read with the transaction's BEGIN (one round trip fewer). A
  // search of one prepared statement (searchSettings) runs it on its own, outside a transaction,
  // and a first page reads its bound in that statement.
  const settings = searchSettings(req, ctx.baseUrl);
  const alone = settings !== undefined;
  const page = budget
    ? await withTimeBudget(
        ctx.db,
        budget,
        (bq, first) => runSearch(bq, req, ctx.baseUrl, first && boundFromRows(first), alone),
        { firstRead: req.cursor?.bound === undefined && !alone ? CURRENT_BOUND_SQL : undefined, settings, alone },
      )
    : await runSearch(q, req, ctx.baseUrl);
  for (const v of page.included) ctx.authorize(v.resourceType, 'read');
  const self = `${ctx.baseUrl}/${type}${req.applied.length ? `?${queryString(req.applied)}` : ''}`;
  const links = [link('self', self)];
  if (page.next) {
    const nextParams = req.applied.filter(([k]) => k !== '_count');
    nextParams.push(['_count', String(req.count)], ['_cursor', encodeCursor(page.next)]);
    links.push(link('next', `${ctx.baseUrl}/${type}?${queryString(nextParams)}`));
  }
  const entries = [
    ...page.matches.map((v) => entry(ctx.baseUrl, v, 'match', req.subsetting)),
    ...page.included.map((v) => entry(ctx.baseUrl, v, 'include')),
  ];
  const total = page.total === undefined ? '' : `,"total":${page.total}`;
  const body = `{"resourceType":"Bundle","type":"searchset","timestamp":"${new Date().toISOString()}"${total},"link":[${links.join(',')}]${entries.length ? `,"entry":[${entries.join(',')}]` : ''}}`;
  return { status: 200, body };
}

export async function instanceHistory(
  ctx: FhirContext,
  q: Queryable,
  type: string,
  id: string,
  params: URLSearchParams,
): Promise<FhirResponse> {
  ctx.authorize(type, 'read');
  if (!isValidId(id)) fail(notFound(`${type}/${id} not found`));
  const { count, since, sinceParam } = historyWindow(params);
  const offset = Number(params.get('_offset') ?? 0);
  if (!Number.isInteger(offset) || offset < 0) fail(badRequest('_offset must be a non-negative integer', '_offset'));
  // A resource a blinded caller may not see has no history for them, exactly as one never stored.
  if (hiddenFrom(ctx) && (await everLabelled(q, type, id, ARM_REVEALING_SECURITY_LABEL))) {
    fail(notFound(`${type}/${id} not found`));
  }
  const page = await readHistory(q, type, id, { count, offset, since });
  if (page.total === 0 && !since) fail(notFound(`${type}/${id} not found`));
  const base = `${ctx.baseUrl}/${type}/${id}/_history`;
  const selfParams: [string, string][] = [['_count', String(count)]];
  if (sinceParam) selfParams.push(['_since', sinceParam]);
  const links = [link('self', `${base}?${queryString([...selfParams, ['_offset', String(offset)]])}`)];
  if (offset + count < page.total) {
    links.push(link('next', `${base}?${queryString([...selfParams, ['_offset', String(offset + count)]])}`));
  }
  const entries = page.versions.map((v) => historyEntry(ctx.baseUrl, v));
  const body = `{"resourceType":"Bundle","type":"history","timestamp":"${new Date().toISOString()}","total":${page.total},"link":[${links.join(',')}]${entries.length ? `,"entry":[${entries.join(',')}]` : ''}}`;
  return { status: 200, body };
}

/** `_count` and `_since` of a history interaction (http.html#history). */
function historyWindow(params: URLSearchParams): { count: number; since?: string; sinceParam: string | null } {
  const countParam = params.get('_count');
  const count = countParam === null ? DEFAULT_COUNT : Math.min(Number(countParam), MAX_COUNT);
  if (!Number.isInteger(count) || count < 0) fail(badRequest('_count must be a non-negative integer', '_count'));
  const sinceParam = params.get('_since');
  if (sinceParam === null) return { count, sinceParam };
  const since = parseDateRange(sinceParam)?.lo;
  if (!since) fail(badRequest(`Invalid _since ${sinceParam}`, '_since'));
  return { count, since, sinceParam };
}

function historyEntry(baseUrl: string, v: StoredVersion & { method: string }): string {
  const { resourceType: type, id } = v;
  const fullUrl = JSON.stringify(`${baseUrl}/${type}/${id}`);
  const request =
    v.method === 'DELETE'
      ? `{"method":"DELETE","url":"${type}/${id}"}`
      : v.method === 'POST'
        ? `{"method":"POST","url":"${type}"}`
        : `{"method":"PUT","url":"${type}/${id}"}`;
  const status = v.method === 'DELETE' ? '204' : v.versionId === 1 ? '201' : '200';
  const response = `{"status":"${status}","etag":"W/\\"${v.versionId}\\"","lastModified":"${v.lastUpdated}"}`;
  return `{"fullUrl":${fullUrl}${v.content ? `,"resource":${v.content}` : ''},"request":${request},"response":${response}}`;
}

/**
 * Type-level history (`Type/_history`), or system-level (`_history`, every type the caller may
 * read): newest first, `_since` and `_count`, paged by an opaque cursor. No total: counting every
 * version of a type would cost more than the page.
 */
export async function typesHistory(
  ctx: FhirContext,
  q: Queryable,
  type: string | undefined,
  params: URLSearchParams,
): Promise<FhirResponse> {
  let types: string[];
  if (type) {
    ctx.authorize(type, 'read');
    types = [type];
  } else {
    types = SUPPORTED_RESOURCE_TYPES.filter((t) => ctx.can(t, 'read'));
    if (types.length === 0) ctx.authorize('Patient', 'read');
  }
  const { count, since, sinceParam } = historyWindow(params);
  const cursorParam = params.get('_cursor');
  const after = cursorParam === null ? undefined : decodeHistoryCursor(cursorParam);
  if (cursorParam !== null && !after) fail(badRequest('Invalid paging cursor', '_cursor'));
  const page = await readTypesHistory(q, types, {
    count,
    since,
    after,
    hideLabelled: hiddenFrom(ctx) ? ARM_REVEALING_SECURITY_LABEL : undefined,
  });
  const base = `${ctx.baseUrl}/${type ? `${type}/` : ''}_history`;
  const selfParams: [string, string][] = [['_count', String(count)]];
  if (sinceParam) selfParams.push(['_since', sinceParam]);
  const links = [
    link(
      'self',
      `${base}?${queryString([...selfParams, ...(cursorParam ? [['_cursor', cursorParam] as [string, string]] : [])])}`,
    ),
  ];
  if (page.next) {
    const next = Buffer.from(JSON.stringify(page.next)).toString('base64url');
    links.push(link('next', `${base}?${queryString([...selfParams, ['_cursor', next]])}`));
  }
  const entries = page.versions.map((v) => historyEntry(ctx.baseUrl, v));
  const body = `{"resourceType":"Bundle","type":"history","timestamp":"${new Date().toISOString()}","link":[${links.join(',')}]${entries.length ? `,"entry":[${entries.join(',')}]` : ''}}`;
  return { status: 200, body };
}

/** Whether arm-revealing resources are hidden from this caller. */
export function hiddenFrom(ctx: FhirContext): boolean {
  return ctx.access !== undefined && isBlinded(ctx.access);
}

function decodeHistoryCursor(s: string): HistoryCursor | undefined {
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Partial<HistoryCursor>;
    // Checked here, so that a forged cursor is a 400, not a failed cast in the database.
    if (typeof c.at !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(c.at)) {
      return undefined;
    }
    if (typeof c.type !== 'string' || typeof c.id !== 'string' || !Number.isInteger(c.version)) return undefined;
    return { at: c.at, type: c.type, id: c.id, version: c.version as number };
  } catch {
    return undefined;
  }
}
