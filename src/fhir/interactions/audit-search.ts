/**
 * Search of the audit trail (AuditEvent), served from its own partitioned tables
 * (src/store/audit-store.ts) rather than the clinical search index: `date`, the references
 * (`entity`, `patient`, `agent`, `source`), the tokens (`type`, `subtype`, `action`, `outcome`),
 * `_id`, `_count`, `_sort` by time either way, `_elements`/`_summary`, `_total=accurate` and paging
 * by an opaque keyset cursor. Newest first unless sorted otherwise; a total only when asked for.
 */
import { parseDateRange } from '../../shared/date-range.ts';
import { normaliseReference } from '../../shared/index-rows.ts';
import { badRequest, fail } from '../../shared/outcomes.ts';
import type { SearchFilter, SearchRequest } from '../../shared/search-request.ts';
import { AUDIT_EVENT_TYPE, type AuditKeyFilter, type AuditQuery, searchAuditEvents } from '../../store/audit-store.ts';
import type { Queryable } from '../../store/db.ts';
import { withTimeBudget } from '../../store/time-budget.ts';
import type { FhirContext, FhirResponse } from '../fhir-context.ts';
import { parseSearch } from '../search/parse-search.ts';
import { subsetText } from '../search/subsetting.ts';

interface AuditCursor {
  recorded: string;
  id: string;
}

function encodeAuditCursor(c: AuditCursor): string {
  return Buffer.from(JSON.stringify([c.recorded, c.id])).toString('base64url');
}

function decodeAuditCursor(s: string): AuditCursor | undefined {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(v) || v.length !== 2) return undefined;
    const [recorded, id] = v as unknown[];
    if (typeof recorded !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(recorded))
      return undefined;
    if (typeof id !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
    return { recorded, id };
  } catch {
    return undefined;
  }
}

const unsupported = (code: string, why: string): never => fail(badRequest(`AuditEvent search: ${code} ${why}`, code));

/** Narrows [from, to) by one date condition (search.html#prefix, on an instant). */
function narrow(q: AuditQuery, code: string, raw: string): void {
  const m = /^(eq|ge|gt|le|lt|sa|eb)?(.*)$/.exec(raw);
  const prefix = m?.[1] ?? 'eq';
  const range = parseDateRange(m?.[2] ?? '');
  if (!range) fail(badRequest(`Invalid date for ${code}: ${raw}`, code));
  const later = (a: string | undefined, b: string): string => (a && Date.parse(a) > Date.parse(b) ? a : b);
  const earlier = (a: string | undefined, b: string): string => (a && Date.parse(a) < Date.parse(b) ? a : b);
  if (prefix === 'eq' || prefix === 'ge') q.from = later(q.from, range.lo);
  if (prefix === 'gt' || prefix === 'sa') q.from = later(q.from, range.hi);
  if (prefix === 'eq' || prefix === 'le') q.to = earlier(q.to, range.hi);
  if (prefix === 'lt' || prefix === 'eb') q.to = earlier(q.to, range.lo);
}

function keyFilter(f: SearchFilter, baseUrl: string): AuditKeyFilter {
  if (f.type === 'reference') {
    return {
      param: f.code,
      anyOf: f.values.flatMap((raw) => {
        const ref = normaliseReference(raw, baseUrl);
        if (ref.includes('/')) return [{ value: ref }];
        if (f.targets.length === 0) unsupported(f.code, `needs a typed reference (Type/id), not ${raw}`);
        return f.targets.map((t) => ({ value: `${t}/${ref}` }));
      }),
    };
  }
  return {
    param: f.code,
    anyOf: f.values.map((raw) => {
      const bar = raw.indexOf('|');
      if (bar < 0) return { value: raw };
      const system = raw.slice(0, bar);
      const value = raw.slice(bar + 1);
      if (value === '') unsupported(f.code, 'needs a code');
      return { system: system === '' ? null : system, value };
    }),
  };
}

/** The store query for a parsed AuditEvent search; 400 for what the audit tables do not index. */
export function auditQuery(req: SearchRequest, baseUrl: string, total: boolean, after?: AuditCursor): AuditQuery {
  if (req.includes.length > 0 || req.revincludes.length > 0) unsupported('_include', 'is not supported');
  const q: AuditQuery = { keys: [], newestFirst: true, count: req.count, total: total || req.summaryCount, after };
  const keys: AuditKeyFilter[] = [];
  for (const f of req.filters) {
    if (f.modifier !== undefined) unsupported(f.code, `:${f.modifier} is not supported`);
    if (f.type === 'id') {
      q.ids = q.ids ? q.ids.filter((id) => f.values.includes(id)) : f.values;
    } else if (f.type === 'date' || f.type === 'lastUpdated') {
      if (f.values.length !== 1) unsupported(f.code, 'takes one value per occurrence');
      narrow(q, f.code, f.values[0] as string);
    } else if (f.type === 'reference' || f.type === 'token') {
      keys.push(keyFilter(f, baseUrl));
    } else {
      unsupported(f.code, 'is not supported');
    }
  }
  // The rarest condition first drives the search: a reference names one subject, a token a kind.
  q.keys = [
    ...keys.filter((k) => k.param !== 'type' && k.param !== 'action' && k.param !== 'outcome'),
    ...keys.filter((k) => k.param === 'type' || k.param === 'action' || k.param === 'outcome'),
  ];
  const [sort, ...more] = req.sort;
  if (more.length > 0) unsupported('_sort', 'takes one key');
  if (sort) {
    if (sort.code !== 'date' && sort.code !== '_lastUpdated') unsupported('_sort', `by ${sort.code} is not supported`);
    q.newestFirst = sort.descending;
  }
  return q;
}

function link(relation: string, url: string): string {
  return JSON.stringify({ relation, url });
}

function queryString(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

export async function searchAuditTrail(
  ctx: FhirContext,
  q: Queryable,
  pairs: [string, string][],
  strict: boolean,
): Promise<FhirResponse> {
  ctx.authorize(AUDIT_EVENT_TYPE, 'search');
  const cursorParam = pairs.find(([k]) => k === '_cursor')?.[1];
  const after = cursorParam === undefined ? undefined : decodeAuditCursor(cursorParam);
  if (cursorParam !== undefined && !after) fail(badRequest('Invalid or expired paging cursor', '_cursor'));
  const rest = pairs.filter(([k]) => k !== '_cursor');
  // A total is counted only when asked for: the trail of a busy month is millions of rows.
  const total = rest.some(([k, v]) => k === '_total' && (v === 'accurate' || v === 'estimate'));
  const req = parseSearch(AUDIT_EVENT_TYPE, rest, strict, ctx.searchLimits);
  const query = auditQuery(req, ctx.baseUrl, total, after);
  if (req.summaryCount) query.count = 0;
  const budget = q === ctx.db ? ctx.searchBudget : undefined;
  const page = budget
    ? await withTimeBudget(ctx.db, budget, (bq) => searchAuditEvents(bq, query))
    : await searchAuditEvents(q, query);
  const base = `${ctx.baseUrl}/${AUDIT_EVENT_TYPE}`;
  const applied = req.applied.filter(([k]) => k !== '_total' || total);
  const links = [
    link(
      'self',
      `${base}${applied.length || cursorParam ? `?${queryString([...applied, ...(cursorParam ? [['_cursor', cursorParam] as [string, string]] : [])])}` : ''}`,
    ),
  ];
  if (page.next) {
    const nextParams = applied.filter(([k]) => k !== '_count');
    nextParams.push(['_count', String(req.count)], ['_cursor', encodeAuditCursor(page.next)]);
    links.push(link('next', `${base}?${queryString(nextParams)}`));
  }
  const entries = page.events.map((e) => {
    const content = req.subsetting ? subsetText(e.content, req.subsetting) : e.content;
    return `{"fullUrl":${JSON.stringify(`${base}/${e.id}`)},"resource":${content},"search":{"mode":"match"}}`;
  });
  const totalText = page.total === undefined ? '' : `,"total":${page.total}`;
  const body = `{"resourceType":"Bundle","type":"searchset","timestamp":"${new Date().toISOString()}"${totalText},"link":[${links.join(',')}]${entries.length ? `,"entry":[${entries.join(',')}]` : ''}}`;
  return { status: 200, body };
}
