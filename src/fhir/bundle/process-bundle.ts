/**
 * POST [base] with a batch or transaction Bundle. A transaction is all-or-nothing in one database
 * transaction, processed in FHIR's order (DELETE, POST, PUT and PATCH, GET) with urn:uuid references rewritten;
 * a batch runs each entry on its own and reports one status per entry.
 */
import { randomUUID } from 'node:crypto';
import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { maskForAccess } from '../../auth/masking.ts';
import { badRequest, fail, multipleMatches, outcomeText, serverError, statusOf } from '../../shared/outcomes.ts';
import { writeFirstVersions } from '../../store/batch-write.ts';
import type { Queryable } from '../../store/db.ts';
import { findObservationIds, type IdentifierKey } from '../../store/identifier-lookup.ts';
import { existingIds, type VersionWrite } from '../../store/resource-store.ts';
import { matchIds } from '../../store/search-store.ts';
import { dispatch } from '../dispatch.ts';
import type { AuditedAccess, FhirContext, FhirResponse } from '../fhir-context.ts';
import { refuseMatchBeyondIdentifier } from '../interactions/match-criteria.ts';
import { parseSearch } from '../search/parse-search.ts';
import { type ParsedEntry, parseEntries, statusLine } from './bundle-entries.ts';
import { rewriteReferences } from './references.ts';
import { checkTransactionEntries } from './transaction-rules.ts';

export interface BundleOptions {
  strict: boolean;
  returnMinimal: boolean;
  maxEntries: number;
  /**
   * Transactions: runs inside the database transaction after every entry, with their responses;
   * a throw rolls everything back (a feed records what it applied in the same commit).
   */
  beforeCommit?:
    | ((tx: Queryable, responses: readonly FhirResponse[], reads: readonly AuditedAccess[]) => Promise<void>)
    | undefined;
}

const TYPE_SEGMENT = /^[A-Z][A-Za-z]+$/;

/**
 * What one GET entry read, for the audit trail (issue 17: each entry of a batch names the resources
 * read): its query when it searched, and every resource its answer carries as the caller gets it
 * (a resource masking withholds from a blinded caller was not read by them; a 404 read nothing).
 */
export function entryReads(
  ctx: FhirContext,
  request: ParsedEntry['request'],
  r: FhirResponse | undefined,
): AuditedAccess[] {
  if (request.method !== 'GET') return [];
  const path = request.path;
  const out: AuditedAccess[] = [];
  const isRead = (path.length === 2 || (path.length === 4 && path[2] === '_history')) && !path[1]?.startsWith('$');
  if (!isRead) {
    const type = [...path].reverse().find((p) => TYPE_SEGMENT.test(p)) ?? 'system';
    out.push({ type, query: request.query.toString() });
  }
  if (r?.status !== 200 || r.body === undefined || r.outcome !== undefined) return out;
  let body: Resource;
  try {
    body = JSON.parse(r.body) as Resource;
  } catch {
    return out;
  }
  const resources =
    body.resourceType === 'Bundle' ? (body.entry ?? []).flatMap((x) => (x.resource ? [x.resource] : [])) : [body];
  for (const resource of resources) {
    if (!resource.id || (ctx.access && maskForAccess(resource, ctx.access) === undefined)) continue;
    out.push({ reference: `${resource.resourceType}/${resource.id}`, type: resource.resourceType });
  }
  return out;
}

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3 };

function responseEntry(r: FhirResponse, returnMinimal: boolean): string {
  const parts = [`"status":${JSON.stringify(statusLine(r.status))}`];
  if (r.location) parts.push(`"location":${JSON.stringify(r.location)}`);
  if (r.versionId !== undefined) parts.push(`"etag":"W/\\"${r.versionId}\\""`);
  if (r.lastUpdated) parts.push(`"lastModified":"${r.lastUpdated}"`);
  if (r.outcome) parts.push(`"outcome":${outcomeText(r.outcome)}`);
  const resource = r.body && !(returnMinimal && r.status !== 200) ? `"resource":${r.body},` : '';
  return `{${resource}"response":{${parts.join(',')}}}`;
}

function bundleText(type: string, entries: string[]): string {
  return `{"resourceType":"Bundle","type":"${type}","timestamp":"${new Date().toISOString()}","entry":[${entries.join(',')}]}`;
}

export async function processBundle(ctx: FhirContext, bundle: Bundle, options: BundleOptions): Promise<FhirResponse> {
  if (bundle.resourceType !== 'Bundle') fail(badRequest('Expected a Bundle', 'resourceType'));
  if (bundle.type === 'transaction') return processTransaction(ctx, bundle, options);
  if (bundle.type === 'batch') return processBatch(ctx, bundle, options);
  fail(badRequest(`POST to the base accepts transaction or batch Bundles, not ${bundle.type}`, 'Bundle.type'));
}

async function processBatch(ctx: FhirContext, bundle: Bundle, options: BundleOptions): Promise<FhirResponse> {
  const entries = parseEntries(bundle, ctx.baseUrl, options.strict, options.maxEntries);
  // Which entries re-deliver a stored resource, in one query per Bundle: a not-kept one that does
  // may be withdrawn by the gate; the rest are answered without writing.
  const gate = ctx.gate;
  const stored = gate ? await storedEntries(ctx.db, entries) : new Map<number, boolean>();
  const out: string[] = [];
  const audited: AuditedAccess[] = [];
  for (const e of entries) {
    if (e.request.method === 'GET')
      audited.push(...entryReads(ctx, e.request, undefined).filter((a) => a.query !== undefined));
    try {
      const body = e.request.body;
      if (gate && body && (e.request.method === 'POST' || e.request.method === 'PUT')) {
        const [type] = e.request.path;
        if (type === body.resourceType) {
          ctx.authorize(type, e.request.method === 'POST' ? 'create' : 'update');
          const decision = await gate.decide(ctx.db, body);
          e.plan.decided = { decision };
          if (decision && !decision.retain) {
            const absent = stored.get(e.index) === false;
            if (absent || !gate.mayWithdraw(decision)) {
              const answer = await gate.notKept(ctx, ctx.db, { type, resource: body, decision, storedAbsent: true });
              out.push(responseEntry(answer, options.returnMinimal));
              continue;
            }
          }
        }
      }
      const write = e.request.method !== 'GET';
      const r = write
        ? await ctx.db.transaction((tx) => dispatch(ctx, tx, e.request, e.plan))
        : await dispatch(ctx, ctx.db, e.request, e.plan);
      if (!write) audited.push(...entryReads(ctx, e.request, r).filter((a) => a.query === undefined));
      out.push(responseEntry(r, options.returnMinimal));
    } catch (err) {
      const outcome = errorOutcome(err);
      out.push(responseEntry({ status: statusOf(outcome), outcome }, options.returnMinimal));
    }
  }
  return { status: 200, body: bundleText('batch-response', out), audited };
}

/**
 * Whether each entry that writes an Observation by identifier (POST) or any resource by id (PUT)
 * re-delivers a stored one: entry index → true (stored) or false (not stored, so a not-kept entry
 * needs no lookup of its own). Entries not covered, or whose identifier or id another entry of the
 * Bundle also writes (the earlier one may store it first), are left out: the write path looks.
 */
async function storedEntries(q: Queryable, entries: readonly ParsedEntry[]): Promise<Map<number, boolean>> {
  const byType = new Map<string, { entry: ParsedEntry; id: string }[]>();
  const keyed: { entry: ParsedEntry; key: IdentifierKey }[] = [];
  const seen = new Map<string, number>();
  const note = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);
  for (const e of entries) {
    const body = e.request.body as (Resource & { identifier?: { system?: string; value?: string }[] }) | undefined;
    const [type, id] = e.request.path;
    if (!body || !type || body.resourceType !== type) continue;
    if (e.request.method === 'PUT' && id && e.request.path.length === 2) {
      const list = byType.get(type) ?? [];
      list.push({ entry: e, id });
      byType.set(type, list);
      note(`${type}/${id}`);
    } else if (e.request.method === 'POST' && e.request.path.length === 1 && type === 'Observation') {
      for (const i of body.identifier ?? []) {
        if (!i.system || !i.value) continue;
        keyed.push({ entry: e, key: { system: i.system, value: i.value } });
        note(`${i.system}|${i.value}`);
      }
    }
  }
  const out = new Map<number, boolean>();
  const shared = new Set<number>();
  for (const [type, list] of byType) {
    const ids = await existingIds(
      q,
      type,
      list.map((x) => x.id),
    );
    for (const x of list) {
      out.set(x.entry.index, (out.get(x.entry.index) ?? false) || ids.has(x.id));
      if ((seen.get(`${type}/${x.id}`) ?? 0) > 1) shared.add(x.entry.index);
    }
  }
  const found = await findObservationIds(
    q,
    keyed.map((k) => k.key),
  );
  for (const { entry, key } of keyed) {
    const k = `${key.system}|${key.value}`;
    out.set(entry.index, (out.get(entry.index) ?? false) || found.has(k));
    if ((seen.get(k) ?? 0) > 1) shared.add(entry.index);
  }
  for (const i of shared) out.delete(i);
  return out;
}

function errorOutcome(err: unknown): OperationOutcome {
  if (err instanceof OperationOutcomeError) return err.outcome;
  return serverError(err instanceof Error ? err.message : 'Unexpected error');
}

/**
 * A feed's transaction may re-deliver results it sent before. One query finds which of its
 * identified Observations already exist; those entries become updates of the stored result (so
 * repeats are idempotent, corrections apply, older versions lose), the rest stay batched creates.
 */
async function redirectRedeliveries(tx: Queryable, entries: ParsedEntry[]): Promise<void> {
  const keyed: { entry: ParsedEntry; key: IdentifierKey }[] = [];
  for (const e of entries) {
    const body = e.request.body as { resourceType?: string; identifier?: { system?: string; value?: string }[] };
    if (e.request.method !== 'POST' || e.request.path.length !== 1 || body?.resourceType !== 'Observation') continue;
    if (e.request.ifNoneExist !== undefined) continue;
    for (const i of body.identifier ?? []) {
      if (i.system && i.value) keyed.push({ entry: e, key: { system: i.system, value: i.value } });
    }
  }
  const existing = await findObservationIds(
    tx,
    keyed.map((k) => k.key),
  );
  for (const { entry, key } of keyed) {
    const id = existing.get(`${key.system}|${key.value}`);
    if (!id || entry.request.method !== 'POST') continue;
    entry.request.method = 'PUT';
    entry.request.path = ['Observation', id];
    entry.request.body = { ...(entry.request.body as Resource), id } as Resource;
  }
}

/**
 * Decides every entry of a gated caller (an EHR feed) before ids are assigned: an entry the gate
 * does not keep gets no id, so references to it keep the sender's urn:uuid rather than pointing at
 * nothing; an entry the gate decides last (for the trial, a DiagnosticReport, kept when one of its
 * results is) is decided and labelled on what the others were.
 */
async function decideEntries(ctx: FhirContext, tx: Queryable, entries: ParsedEntry[]): Promise<void> {
  const gate = ctx.gate;
  if (!gate) return;
  const kept = new Set<string>();
  // Entries the gate labels: an entry decided last that lists one of them is labelled too.
  const revealing = new Set<string>();
  const last: ParsedEntry[] = [];
  for (const e of entries) {
    const { method, body, path } = e.request;
    if (!body || (method !== 'POST' && method !== 'PUT') || !gate.decides(body.resourceType)) continue;
    if (path[0] !== body.resourceType) continue;
    if (gate.decidesLast(body.resourceType)) {
      last.push(e);
      continue;
    }
    const decision = await gate.decide(tx, body);
    e.plan.decided = { decision };
    if (decision?.retain) {
      if (e.fullUrl) kept.add(e.fullUrl);
      if (path[1]) kept.add(`${path[0]}/${path[1]}`);
    }
    if (gate.reveals(body)) {
      if (e.fullUrl) revealing.add(e.fullUrl);
      if (path[1]) revealing.add(`${path[0]}/${path[1]}`);
    }
  }
  for (const e of last) {
    e.plan.decided = { decision: await gate.decide(tx, e.request.body as Resource, kept) };
    e.request.body = await gate.labelStored(tx, e.request.body as Resource, revealing);
  }
}

function notKeptEntry(e: ParsedEntry): boolean {
  const d = e.plan.decided?.decision;
  return d !== undefined && !d.retain;
}

/** Assigns ids to created entries and resolves conditional ones, before anything is written. */
async function resolveIdentities(
  ctx: FhirContext,
  tx: Queryable,
  entries: ParsedEntry[],
): Promise<Map<string, string>> {
  const mapping = new Map<string, string>();
  const targets = new Set<string>();
  for (const e of entries) {
    const r = e.request;
    const [type, id] = r.path;
    if (!type || notKeptEntry(e)) continue;
    let identity: string | undefined;
    if (r.method === 'POST' && id === undefined) {
      let existing: string | undefined;
      if (r.ifNoneExist) existing = await findOne(ctx, tx, type, new URLSearchParams(r.ifNoneExist.replace(/^\?/, '')));
      if (!existing) {
        r.assignedId = randomUUID();
        identity = `${type}/${r.assignedId}`;
      } else identity = `${type}/${existing}`;
    } else if (r.method === 'PUT' && id === undefined) {
      const existing = await findOne(ctx, tx, type, r.query);
      identity = existing ? `${type}/${existing}` : undefined;
    } else if ((r.method === 'PUT' || r.method === 'PATCH' || r.method === 'DELETE') && id !== undefined) {
      identity = `${type}/${id}`;
    }
    if (identity && r.method !== 'GET') {
      if (targets.has(identity)) {
        fail(
          badRequest(
            `Bundle.entry[${e.index}] writes ${identity}, which another entry also writes`,
            `Bundle.entry[${e.index}]`,
          ),
        );
      }
      targets.add(identity);
    }
    if (e.fullUrl && identity) mapping.set(e.fullUrl, identity);
  }
  return mapping;
}

async function findOne(
  ctx: FhirContext,
  tx: Queryable,
  type: string,
  query: URLSearchParams,
): Promise<string | undefined> {
  const search = parseSearch(type, query, true);
  refuseMatchBeyondIdentifier(ctx, type, search);
  const ids = await matchIds(tx, search, ctx.baseUrl, 2);
  if (ids.length > 1) fail(multipleMatches(`Conditional criteria ${type}?${query} matched more than one resource`));
  return ids[0];
}

async function processTransaction(ctx: FhirContext, bundle: Bundle, options: BundleOptions): Promise<FhirResponse> {
  const entries = parseEntries(bundle, ctx.baseUrl, options.strict, options.maxEntries);
  checkTransactionEntries(entries);
  const results = await ctx.db.transaction(async (tx) => {
    if (ctx.gate) await redirectRedeliveries(tx, entries);
    await decideEntries(ctx, tx, entries);
    // Not-kept entries that re-deliver a stored result withdraw it; the others need no lookup each.
    const notKeptNow = entries.filter(notKeptEntry);
    const stored = await storedEntries(tx, notKeptNow);
    for (const e of notKeptNow) if (stored.get(e.index) === false) e.plan.storedAbsent = true;
    const mapping = await resolveIdentities(ctx, tx, entries);
    for (const e of entries) {
      if (e.request.body) e.request.body = rewriteReferences(e.request.body, mapping) as Resource;
      if (e.request.patch) e.request.patch = rewriteReferences(e.request.patch, mapping);
      if (e.request.ifNoneExist) e.request.ifNoneExist = rewriteReferences(e.request.ifNoneExist, mapping);
    }
    const ordered = [...entries].sort(
      (a, b) => (ORDER[a.request.method] ?? 9) - (ORDER[b.request.method] ?? 9) || a.index - b.index,
    );
    const byIndex = new Map<number, FhirResponse>();
    // Plain creates (the bulk of a feed's transactions) are collected and written in one statement,
    // before any entry that reads or conditionally writes the store.
    const pending = { writes: [] as VersionWrite[], marks: [] as string[] };
    const flush = async (): Promise<void> => {
      if (pending.writes.length === 0) return;
      await writeFirstVersions(tx, pending.writes.splice(0), pending.marks.splice(0));
    };
    for (const e of ordered) {
      const r = e.request;
      const plainCreate = r.method === 'POST' && r.path.length === 1 && r.ifNoneExist === undefined;
      if (plainCreate) e.plan.defer = pending;
      else await flush();
      try {
        byIndex.set(e.index, await dispatch(ctx, tx, r, e.plan));
      } catch (err) {
        if (err instanceof OperationOutcomeError) {
          // Say which entry failed; the whole transaction is rolled back.
          const issue = err.outcome.issue?.map((i) => ({
            ...i,
            diagnostics: `Bundle.entry[${e.index}]${i.diagnostics ? `: ${i.diagnostics}` : ''}`,
          }));
          throw new OperationOutcomeError({ ...err.outcome, issue: issue ?? [] }, err);
        }
        throw err;
      }
    }
    await flush();
    const responses = entries.map((e) => byIndex.get(e.index) as FhirResponse);
    const reads = entries.flatMap((e) => entryReads(ctx, e.request, byIndex.get(e.index)));
    await options.beforeCommit?.(tx, responses, reads);
    return { responses, reads };
  });
  return {
    status: 200,
    body: bundleText(
      'transaction-response',
      results.responses.map((r) => responseEntry(r, options.returnMinimal)),
    ),
    audited: results.reads,
  };
}
