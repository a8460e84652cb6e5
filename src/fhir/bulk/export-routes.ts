/**
 * Bulk Data Access IG 2.0 $export over HTTP: kick-off at system, Patient and Group level (GET or
 * POST with Parameters), the status URL (poll, DELETE to cancel) and the output files. Mounted
 * under /fhir after authentication; jobs run in src/jobs/bulk-export-worker.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Group } from '@medplum/fhirtypes';
import express, { type Request, type Response, Router } from 'express';
import { isArmRevealing, isBlinded } from '../../auth/masking.ts';
import {
  badRequest,
  fail,
  forbidden,
  methodNotAllowed,
  notFound,
  ok,
  serverError,
  tooManyRequests,
} from '../../shared/outcomes.ts';
import { SUPPORTED_RESOURCE_TYPES } from '../../shared/resource-types.ts';
import {
  createJob,
  deleteJob,
  type ExportJob,
  getJob,
  listFiles,
  readChunk,
  recordPoll,
} from '../../store/bulk-export-store.ts';
import { readMany } from '../../store/resource-store.ts';
import type { FhirContext } from '../fhir-context.ts';
import { sendOutcome } from '../http/send.ts';
import { readResource } from '../interactions/read.ts';
import { DEFAULT_MAX_JSON_DEPTH, parseJsonBody } from '../json-body.ts';
import { searchParamsFor } from '../search/search-params.ts';
import { jobAccess, lenientTypeFilters, planType } from './export-plan.ts';
import { type ExportLevel, type ExportSpec, NOT_EXPORTED_BY_DEFAULT } from './export-spec.ts';
import { type KickoffParams, pairsFromParameters, parseKickoff } from './kickoff-params.ts';
import { buildManifest } from './manifest.ts';

export interface BulkExportRouterOptions {
  context(req: Request, res: Response): FhirContext;
  bodyLimit: string | number;
  ttlHours: number;
  minPollMs: number;
  /** Tells this instance's worker there is work (other instances find it on their next poll). */
  onKickoff(): void;
  /** Brings derived Groups up to date before a Group export reads its members. */
  refreshGroups?: (() => Promise<void>) | undefined;
}

type Route =
  | { kind: 'kickoff'; level: ExportLevel; groupId?: string | undefined }
  | { kind: 'status'; jobId: string }
  | { kind: 'file'; jobId: string; fileNo: number };

function segmentsOf(req: Request): string[] {
  const i = req.url.indexOf('?');
  const p = i < 0 ? req.url : req.url.slice(0, i);
  return p
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

/** What every export path has in its text (or a percent-encoding that might spell it). */
const MAY_BE_BULK = /\$export|bulkstatus|bulkfiles|%/;

function match(seg: string[]): Route | undefined {
  if (seg.length === 1 && seg[0] === '$export') return { kind: 'kickoff', level: 'system' };
  if (seg.length === 2 && seg[0] === 'Patient' && seg[1] === '$export') return { kind: 'kickoff', level: 'patient' };
  if (seg.length === 3 && seg[0] === 'Group' && seg[2] === '$export') {
    return { kind: 'kickoff', level: 'group', groupId: seg[1] };
  }
  if (seg.length === 2 && seg[0] === 'bulkstatus') return { kind: 'status', jobId: seg[1] as string };
  const file = seg.length === 3 && seg[0] === 'bulkfiles' ? /^(\d{1,6})\.ndjson$/.exec(seg[2] as string) : null;
  if (file) return { kind: 'file', jobId: seg[1] as string, fileNo: Number(file[1]) };
  return undefined;
}

function header(req: Request, name: string): string {
  const v = req.headers[name];
  return (Array.isArray(v) ? v.join(',') : v) ?? '';
}

function HIDDEN(): never {
  fail(notFound('No such export job'));
}

export function createBulkExportRouter(options: BulkExportRouterOptions): Router {
  const router = Router();
  const raw = express.raw({ type: () => true, limit: options.bodyLimit });
  router.use((req, res, next) => {
    // Not an export path (most requests: a feed's writes): out of this router at once, without
    // splitting the path or entering the handler below (issue 22).
    const route = MAY_BE_BULK.test(req.url) ? match(segmentsOf(req)) : undefined;
    if (!route) {
      next('router');
      return;
    }
    res.locals.bulkRoute = route;
    raw(req, res, next);
  });
  router.use(async (req, res, next) => {
    const route = res.locals.bulkRoute as Route | undefined;
    if (!route) {
      next();
      return;
    }
    const ctx = options.context(req, res);
    const method = req.method.toUpperCase();
    if (route.kind === 'kickoff' && (method === 'GET' || method === 'POST'))
      await kickoff(options, ctx, route, req, res);
    else if (route.kind === 'status' && method === 'GET') await status(options, ctx, route.jobId, res);
    else if (route.kind === 'status' && method === 'DELETE') await cancel(ctx, route.jobId, res);
    else if (route.kind === 'file' && method === 'GET') await download(ctx, route.jobId, route.fileNo, res);
    else fail(methodNotAllowed(`${method} is not allowed on this Bulk Data URL`));
  });
  return router;
}

/** Types a client gets without _type: what it may search, minus operational types. */
function defaultTypes(ctx: FhirContext, level: ExportLevel): string[] {
  return SUPPORTED_RESOURCE_TYPES.filter(
    (t) => !NOT_EXPORTED_BY_DEFAULT.has(t) && ctx.can(t, 'search') && (level === 'system' || inPatientCompartment(t)),
  );
}

/** Patient-level exports carry the Patient and what references a Patient. */
function inPatientCompartment(type: string): boolean {
  if (type === 'Patient') return true;
  return [...searchParamsFor(type).values()].some((d) => d.type === 'reference' && d.targets.includes('Patient'));
}

async function groupMembers(options: BulkExportRouterOptions, ctx: FhirContext, groupId: string): Promise<string[]> {
  await options.refreshGroups?.();
  const r = await readResource(ctx, ctx.db, 'Group', groupId);
  const group = JSON.parse(r.body ?? '{}') as Group;
  if (ctx.access && isBlinded(ctx.access) && isArmRevealing(group)) fail(notFound(`Group/${groupId} not found`));
  const ids: string[] = [];
  for (const m of group.member ?? []) {
    const ref = m.entity?.reference ?? '';
    if (m.inactive === true || !ref.startsWith('Patient/')) continue;
    ids.push(ref.slice('Patient/'.length));
  }
  return ids;
}

/**
 * The `patient` parameter (export.html#query-parameters): only these patients' compartments, and at
 * Group level only those who are members. Patients not on this server, or not in the Group, are
 * reported in the error file (as the IG asks), not refused: the export runs for the others.
 */
async function limitToPatients(ctx: FhirContext, spec: ExportSpec, patients: string[]): Promise<string[]> {
  if (spec.level === 'system') {
    fail(badRequest('patient applies to Patient- and Group-level exports, not to a system-level one', 'patient'));
  }
  ctx.authorize('Patient', 'read');
  const members = spec.level === 'group' ? new Set(spec.patientIds) : undefined;
  const stored = new Set(
    (
      await readMany(
        ctx.db,
        patients.map((id) => ({ resourceType: 'Patient', id })),
      )
    ).map((v) => v.id),
  );
  const warnings: string[] = [];
  for (const id of patients) {
    if (members && !members.has(id)) warnings.push(`Patient/${id} is not a member of Group/${spec.groupId}: left out`);
    else if (!stored.has(id)) warnings.push(`Patient/${id} has no Patient resource on this server`);
  }
  spec.patientIds = members ? patients.filter((id) => members.has(id)) : patients;
  return warnings;
}

async function kickoff(
  options: BulkExportRouterOptions,
  ctx: FhirContext,
  route: Extract<Route, { kind: 'kickoff' }>,
  req: Request,
  res: Response,
): Promise<void> {
  const access = ctx.access;
  if (!access) fail(badRequest('No caller'));
  const prefer = header(req, 'prefer').toLowerCase();
  if (!/respond-async/.test(prefer)) fail(badRequest('$export needs the header Prefer: respond-async'));
  const lenient = /handling\s*=\s*lenient/.test(prefer);
  const accept = header(req, 'accept');
  if (accept && !/(\*\/\*|application\/\*|json)/i.test(accept)) {
    fail(badRequest(`Accept ${accept} is not supported; use application/fhir+json`));
  }
  const i = req.url.indexOf('?');
  const pairs: [string, string][] = [...new URLSearchParams(i < 0 ? '' : req.url.slice(i + 1))].filter(
    ([k]) => k !== '_format',
  );
  if (req.method.toUpperCase() === 'POST') {
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    const parsed = body ? parseJsonBody(body, DEFAULT_MAX_JSON_DEPTH, 'The kick-off body') : undefined;
    pairs.push(...pairsFromParameters(parsed));
  }
  const params: KickoffParams = parseKickoff(pairs, lenient);
  let types: string[];
  if (params.types) {
    for (const t of params.types) ctx.authorize(t, 'search');
    types = params.types;
  } else types = defaultTypes(ctx, route.level);
  // The audit trail (archival before retention drops a month): whole, by time, system-level only.
  if (types.includes('AuditEvent') && (route.level !== 'system' || params.typeFilters.AuditEvent))
    fail(badRequest('AuditEvent is exported at system level only, with _since and without _typeFilter', '_type'));
  for (const t of Object.keys(params.typeFilters)) {
    if (!types.includes(t))
      fail(badRequest(`_typeFilter names ${t}, which this export does not include`, '_typeFilter'));
  }
  const spec: ExportSpec = {
    level: route.level,
    types,
    since: params.since,
    typeFilters: lenient ? lenientTypeFilters(params.typeFilters, params.ignored) : params.typeFilters,
    ...(params.elements ? { elements: params.elements } : {}),
    ignored: params.ignored,
  };
  if (route.level === 'group') {
    ctx.authorize('Group', 'read');
    spec.groupId = route.groupId;
    spec.patientIds = await groupMembers(options, ctx, route.groupId as string);
  }
  const warnings = params.patients ? await limitToPatients(ctx, spec, params.patients) : [];
  if (types.includes('Group')) await options.refreshGroups?.();
  // Fail now on a filter the export could not run (unknown parameter, blinded query): 400, not a failed job.
  for (const t of types) planType(spec, t, jobAccess(access.clientId, access.role));

  const jobId = randomUUID();
  const outcomeLine = (severity: 'information' | 'warning', text: string): string =>
    JSON.stringify({
      resourceType: 'OperationOutcome',
      issue: [{ severity, code: severity === 'warning' ? 'not-found' : 'informational', details: { text } }],
    });
  const errorLines = [
    ...params.ignored.map((text) => outcomeLine('information', text)),
    ...warnings.map((text) => outcomeLine('warning', text)),
  ].join('\n');
  await createJob(ctx.db, {
    jobId,
    requestUrl: `${ctx.baseUrl}${req.url}`,
    clientId: access.clientId,
    role: access.role,
    spec: JSON.stringify(spec),
    transactionTime: new Date().toISOString(),
    ttlHours: options.ttlHours,
    errorLines: errorLines ? `${errorLines}\n` : undefined,
  });
  options.onKickoff();
  res.setHeader('Content-Location', `${ctx.baseUrl}/bulkstatus/${jobId}`);
  sendOutcome(res, 202, ok(`Export ${jobId} accepted; poll the Content-Location URL`));
}

/** The job if this client asked for it; anyone else is told it does not exist. */
async function ownJob(ctx: FhirContext, jobId: string): Promise<ExportJob> {
  const job = /^[0-9a-f-]{36}$/.test(jobId) ? await getJob(ctx.db, jobId) : undefined;
  if (!job || job.clientId !== ctx.access?.clientId) HIDDEN();
  return job;
}

async function status(options: BulkExportRouterOptions, ctx: FhirContext, jobId: string, res: Response): Promise<void> {
  const job = await ownJob(ctx, jobId);
  const retryAfter = String(Math.max(1, Math.ceil(options.minPollMs / 1000)));
  if (job.status === 'queued' || job.status === 'running') {
    if (!(await recordPoll(ctx.db, jobId, options.minPollMs))) {
      res.setHeader('Retry-After', retryAfter);
      sendOutcome(res, 429, tooManyRequests(`Polled too often; wait ${retryAfter} s between polls`));
      return;
    }
    const spec = JSON.parse(job.spec) as ExportSpec;
    const current = spec.types[Math.min(job.typeIndex, spec.types.length - 1)] ?? '';
    res.setHeader('X-Progress', `${job.exported} resources; ${current} (${job.typeIndex + 1}/${spec.types.length})`);
    res.setHeader('Retry-After', retryAfter);
    res.status(202).end();
    return;
  }
  if (job.status === 'failed') {
    sendOutcome(res, 500, serverError(`Export failed: ${job.error ?? 'unknown error'}`));
    return;
  }
  const manifest = buildManifest(ctx.baseUrl, job, await listFiles(ctx.db, jobId));
  res.setHeader('Expires', new Date(job.expiresAt).toUTCString());
  res.status(200).type('application/json').send(JSON.stringify(manifest));
}

async function cancel(ctx: FhirContext, jobId: string, res: Response): Promise<void> {
  await ownJob(ctx, jobId);
  await deleteJob(ctx.db, jobId);
  sendOutcome(res, 202, ok(`Export ${jobId} cancelled and its files deleted`));
}

async function download(ctx: FhirContext, jobId: string, fileNo: number, res: Response): Promise<void> {
  const job = await ownJob(ctx, jobId);
  if (job.status !== 'completed') HIDDEN();
  const file = (await listFiles(ctx.db, jobId)).find((f) => f.fileNo === fileNo);
  if (!file) fail(notFound('No such export file'));
  // Same token rules as the API: the caller's scopes must still cover the file's type.
  if (file.kind === 'output') ctx.authorize(file.resourceType, 'search');
  // The file was masked (or not) for the role the client had at kick-off; a client whose role has
  // changed since, e.g. to outcome-assessor, must not download what that role may not see. The role
  // now, from the clients file, not the token's: a token issued before the change is still valid.
  if (ctx.access) {
    const role = ctx.currentRole ? ctx.currentRole() : ctx.access.role;
    if (role === undefined) fail(forbidden('This client is no longer registered or is disabled'));
    if (role !== job.role || ctx.access.role !== job.role) {
      fail(forbidden(`This export was made for role ${job.role}; the client's role is now ${role}: export again`));
    }
  }
  res.status(200).type('application/fhir+ndjson');
  res.setHeader('Content-Length', String(file.bytes));
  for (let n = 0; n < file.chunks; n++) {
    const chunk = await readChunk(ctx.db, jobId, fileNo, n);
    if (chunk === undefined) {
      // Deleted while streaming (cancel or expiry): cut the response rather than send a short file.
      res.destroy();
      return;
    }
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}
