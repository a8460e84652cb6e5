/**
 * The FHIR REST facade at /fhir. Routes only translate HTTP to FhirRequests and back; every rule
 * lives in dispatch() and the interactions, shared with Bundle entries.
 */
import type { Bundle } from '@medplum/fhirtypes';
import express, { type Request, type Response, Router } from 'express';
import type { AccessContext } from '../../auth/access-context.ts';
import { badRequest, fail, methodNotAllowed, notAcceptable } from '../../shared/outcomes.ts';
import { writeFirstVersions } from '../../store/batch-write.ts';
import type { Queryable } from '../../store/db.ts';
import type { VersionWrite } from '../../store/resource-store.ts';
import { processBundle } from '../bundle/process-bundle.ts';
import { dispatch, type FhirRequest } from '../dispatch.ts';
import type { AuditedAccess, FhirContext, FhirResponse } from '../fhir-context.ts';
import { IDENTIFIER_INDEX } from '../interactions/create.ts';
import { asJsonPatch } from '../interactions/patch.ts';
import { readJsonPatchBody, readResourceBody, readSearchForm } from './body.ts';
import { parsePrefer } from './prefer.ts';
import { sendFhir } from './send.ts';

export interface FhirRouterOptions {
  bodyLimit: string | number;
  maxBundleEntries: number;
  /** JSON nested deeper than this is a 400 before anything walks it (default DEFAULT_MAX_JSON_DEPTH). */
  maxJsonDepth?: number | undefined;
  /** Builds the per-request context (base URL, access, authorisation). */
  context(req: Request, res: Response): FhirContext;
  /** Brings derived Groups (study and arm membership) up to date before they are read. */
  refreshGroups?: (() => Promise<void>) | undefined;
}

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/** _format and Accept: JSON only; asking for XML or Turtle is a 406, not a silent JSON answer. */
function checkFormat(req: Request): void {
  const format = typeof req.query._format === 'string' ? req.query._format : undefined;
  if (format !== undefined && !JSON_FORMATS.has(format.split(';')[0]!.trim().toLowerCase())) {
    fail(notAcceptable(`_format ${format} is not supported; this server speaks application/fhir+json`));
  }
  const accept = req.headers.accept;
  if (accept && !/(\*\/\*|application\/\*|json)/i.test(accept)) {
    fail(notAcceptable(`Accept ${accept} is not supported; this server speaks application/fhir+json`));
  }
}

function queryOf(req: Request): URLSearchParams {
  const i = req.url.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : req.url.slice(i + 1));
}

function pathOf(req: Request): string[] {
  const i = req.url.indexOf('?');
  const p = i < 0 ? req.url : req.url.slice(0, i);
  return p
    .split('/')
    .filter((s) => s.length > 0)
    .map(decodeSegment);
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return fail(badRequest(`The path segment ${s} is not valid percent-encoded UTF-8`));
  }
}

function accessOf(res: Response): AccessContext | undefined {
  return res.locals.access as AccessContext | undefined;
}

export function createFhirRouter(options: FhirRouterOptions): Router {
  const router = Router();
  router.use(express.raw({ type: () => true, limit: options.bodyLimit }));
  router.use((req, _res, next) => {
    checkFormat(req);
    next();
  });

  router.post('/', async (req, res) => {
    const prefs = parsePrefer(header(req, 'prefer'));
    const body = readResourceBody(req, options.maxJsonDepth);
    if (!body) fail(badRequest('POST to the base needs a batch or transaction Bundle'));
    // A Bundle is one request with one AuditEvent, recorded by the audit trail.
    const ctx = { ...options.context(req, res), auditInline: undefined };
    // A transaction's AuditEvent commits with its data (issue 17); a rollback leaves the trail to
    // record the failure.
    const isTransaction = (body as Bundle).type === 'transaction';
    let audit: { write: VersionWrite; done(): void } | undefined;
    const auditBundle = isTransaction ? ctx.auditBundle : undefined;
    const r = await processBundle(ctx, body as Bundle, {
      strict: prefs.strict,
      returnMinimal: prefs.return === 'minimal',
      maxEntries: options.maxBundleEntries,
      ...(auditBundle
        ? {
            beforeCommit: (tx: Queryable, _responses: readonly FhirResponse[], reads: readonly AuditedAccess[]) => {
              audit = auditBundle(reads);
              return writeFirstVersions(tx, [audit.write]);
            },
          }
        : {}),
    });
    audit?.done();
    // A batch's AuditEvent is the trail's: it names what the entries read (issue 17).
    if (!isTransaction) {
      res.locals.auditSubtype = 'batch';
      res.locals.auditEntities = r.audited;
    }
    sendFhir(res, r, { ...prefs, return: 'representation' }, accessOf(res));
  });

  router.post('/:type/_search', async (req, res) => {
    const prefs = parsePrefer(header(req, 'prefer'));
    const ctx = options.context(req, res);
    const query = readSearchForm(req);
    // The audit trail records the query a form search sent in its body.
    res.locals.auditQuery = query.toString();
    if (req.params.type === 'Group') await options.refreshGroups?.();
    const r = await dispatch(ctx, ctx.db, {
      method: 'GET',
      path: [req.params.type as string],
      query,
      strict: prefs.strict,
    });
    sendFhir(res, r, prefs, accessOf(res));
  });

  router.all('/*path', async (req, res) => {
    const prefs = parsePrefer(header(req, 'prefer'));
    const method = req.method.toUpperCase();
    if (!['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'].includes(method)) {
      fail(methodNotAllowed(`${method} is not supported`));
    }
    const ctx = options.context(req, res);
    const fhirReq: FhirRequest = {
      method: method === 'HEAD' ? 'GET' : method,
      path: pathOf(req),
      query: queryOf(req),
      body: method === 'POST' || method === 'PUT' ? readResourceBody(req, options.maxJsonDepth) : undefined,
      patch: method === 'PATCH' ? asJsonPatch(readJsonPatchBody(req, options.maxJsonDepth)) : undefined,
      ifMatch: header(req, 'if-match'),
      ifNoneExist: header(req, 'if-none-exist'),
      strict: prefs.strict,
    };
    // A plain create is one statement (durable on its own); anything that reads before it writes
    // (update, delete, conditional create) runs in a transaction.
    if (fhirReq.method === 'GET' && fhirReq.path[0] === 'Group') await options.refreshGroups?.();
    const needsTx =
      method === 'PUT' ||
      method === 'PATCH' ||
      method === 'DELETE' ||
      (method === 'POST' && fhirReq.ifNoneExist !== undefined);
    let r: FhirResponse;
    if (needsTx) r = await ctx.db.transaction((tx) => dispatch(ctx, tx, fhirReq));
    else if (method === 'POST' && ctx.gate) {
      // A pushed result is written optimistically in one statement; only a re-delivery (it collides
      // on its identifier) takes the transactional lookup-and-update path.
      try {
        r = await dispatch(ctx, ctx.db, fhirReq, { optimistic: true });
      } catch (err) {
        if ((err as { constraint?: string }).constraint !== IDENTIFIER_INDEX) throw err;
        r = await ctx.db.transaction((tx) => dispatch(ctx, tx, fhirReq));
      }
    } else r = await dispatch(ctx, ctx.db, fhirReq);
    // A write turned away that touched nothing: the audit trail counts it in its summary.
    if (r.discarded !== undefined) res.locals.auditDiscarded = r.discarded;
    sendFhir(res, r, prefs, accessOf(res));
  });
  return router;
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
