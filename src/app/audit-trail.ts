/**
 * Every request to the FHIR API leaves an AuditEvent in the store before its response is sent
 * (reads, writes, searches, and refusals alike). Records are group-committed: requests that finish
 * together share one multi-row write, so auditing costs a fraction of a round trip per request,
 * and a response never goes out for a request whose audit record is not durable.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import express, { type Request, type RequestHandler, type Response } from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import {
  type AuditAction,
  type AuditOutcome,
  type AuditWhat,
  buildAuditEvent,
  type ExternalRequestor,
  type RestfulInteraction,
} from '../auth/audit-event.ts';
import { stamp } from '../fhir/interactions/write-version.ts';
import { extractIndexRows } from '../fhir/search/index-values.ts';
import type { MllpAudit, MllpAuditEntry } from '../ingest/hl7v2/mllp-listener.ts';
import type { Logger } from '../shared/logger.ts';
import { insertAuditEvents } from '../store/audit-store.ts';
import { writeFirstVersions } from '../store/batch-write.ts';
import type { Db } from '../store/db.ts';
import type { VersionWrite } from '../store/resource-store.ts';
import type { AuditSummary } from './audit-summary.ts';

/** An AuditEvent as a store write: always a body. */
type AuditWrite = VersionWrite & { content: string };

interface Pending {
  write: AuditWrite;
  done: (err?: unknown) => void;
}

export class AuditWriter {
  readonly #db: Db;
  readonly #baseUrl: string;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;

  constructor(db: Db, baseUrl: string, maxBatch = 500) {
    this.#db = db;
    this.#baseUrl = baseUrl;
    this.#maxBatch = maxBatch;
  }

  /** Resolves once the event is committed. */
  /** The event as a store write, for callers that commit it together with their own write. */
  toWrite(event: AuditEvent): AuditWrite {
    const id = randomUUID();
    const lastUpdated = new Date().toISOString();
    const stamped = stamp(event, id, 1, lastUpdated);
    return {
      resourceType: 'AuditEvent',
      id,
      versionId: 1,
      lastUpdated,
      method: 'POST',
      content: JSON.stringify(stamped),
      index: extractIndexRows(stamped, this.#baseUrl),
    };
  }

  record(event: AuditEvent): Promise<void> {
    const write = this.toWrite(event);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ write, done: (err) => (err ? reject(err) : resolve()) });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#flushing) return;
    this.#flushing = (async () => {
      // Let the other requests finishing in this turn of the event loop join the batch.
      await new Promise((r) => setImmediate(r));
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          await insertAuditEvents(
            this.#db,
            batch.map((p) => p.write),
          );
          for (const p of batch) p.done();
        } catch (err) {
          for (const p of batch) p.done(err);
        }
      }
    })().finally(() => {
      this.#flushing = undefined;
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  /** Waits for everything queued so far (shutdown). */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }
}

function actionOf(method: string, path: string): AuditAction {
  const segments =
    path
      .split('?')[0]
      ?.split('/')
      .filter((s) => s.length > 0) ?? [];
  if (method === 'POST') {
    if (segments.length === 0 || segments[segments.length - 1] === '_search' || segments.some((s) => s.startsWith('$')))
      return 'E';
    return 'C';
  }
  if (method === 'PUT' || method === 'PATCH') return 'U';
  if (method === 'DELETE') return 'D';
  return segments.length >= 2 ? 'R' : 'E';
}

function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return '0';
  if (status < 500) return '4';
  return '8';
}

function whatOf(path: string, res: Response, action: AuditAction): AuditWhat {
  const [pathname = '', query] = path.split('?');
  const segments = pathname.split('/').filter((s) => s.length > 0);
  const location = res.getHeader('location') ?? res.getHeader('content-location');
  if (action === 'C' && typeof location === 'string') {
    const m = /\/([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/\d+)?$/.exec(location);
    if (m?.[1]) return { reference: m[1], type: segments[0] };
  }
  if (segments.length >= 2 && segments[1] !== '_search') {
    const what: AuditWhat = { reference: `${segments[0]}/${segments[1]}`, type: segments[0] };
    // An instance's history or compartment search carries its own query (refused or not, issue 17).
    const compartment = segments[2] && /^[A-Z][A-Za-z]+$/.test(segments[2]) ? segments[2] : undefined;
    if (compartment) what.queryType = compartment;
    if (compartment || (query !== undefined && query !== '')) what.query = query ?? '';
    return what;
  }
  return { type: segments[0] ?? 'system', query: query ?? '' };
}

/**
 * Holds back the end of each response until its AuditEvent is committed. Mounted on /fhir before
 * authentication, so refused and unauthenticated requests are recorded too.
 */
/**
 * For a single create: its success AuditEvent, written in the same statement as the resource (one
 * commit instead of two on the busiest path). `done()` after the commit tells the trail that this
 * request is already audited; if the write fails, the trail records the failure as usual.
 */
export function inlineCreateAudit(
  writer: AuditWriter,
  req: Request,
  res: Response,
): (reference: string) => { write: VersionWrite; done(): void } {
  return (reference) => {
    const event = buildAuditEvent({
      access: res.locals.access as AccessContext | undefined,
      action: 'C',
      outcome: '0',
      what: { reference, type: reference.split('/')[0] },
      sourceAddress: req.ip,
      recorded: new Date(),
      requestId: res.locals.reqId as string | undefined,
      httpMethod: 'POST',
      path: `/fhir${req.url}`,
    });
    return {
      write: writer.toWrite(event),
      done: () => {
        res.locals.audited = true;
      },
    };
  };
}

/** A transaction Bundle's success AuditEvent, written in the Bundle's own database transaction. */
export function inlineBundleAudit(
  writer: AuditWriter,
  req: Request,
  res: Response,
): (reads?: readonly AuditWhat[]) => { write: VersionWrite; done(): void } {
  return (reads) => {
    const event = buildAuditEvent({
      access: res.locals.access as AccessContext | undefined,
      action: 'E',
      outcome: '0',
      subtype: 'transaction',
      what: { type: 'Bundle' },
      entities: reads,
      sourceAddress: req.ip,
      recorded: new Date(),
      requestId: res.locals.reqId as string | undefined,
      httpMethod: 'POST',
      path: `/fhir${req.url}`,
    });
    return {
      write: writer.toWrite(event),
      done: () => {
        res.locals.audited = true;
      },
    };
  };
}

/**
 * The audit record of one HL7 v2 message received over MLLP (or of a refused connection): the
 * sending system and address, the message's control id as the request id, the ACK as the outcome.
 */
export function mllpAudit(writer: AuditWriter, access: AccessContext): MllpAudit {
  const eventOf = (entry: MllpAuditEntry): AuditEvent => {
    const m = entry.message;
    return buildAuditEvent({
      access: m ? access : undefined,
      action: 'E',
      outcome: m?.ack === 'AA' ? '0' : '4',
      subtype: 'transaction',
      what: { type: 'Bundle' },
      sourceAddress: entry.remote,
      recorded: new Date(),
      requestId: m ? `hl7v2:${m.facility}|${m.controlId}` : undefined,
      outcomeDesc: m ? `ACK ${m.ack}${entry.reason ? `: ${entry.reason}` : ''}` : entry.reason,
      path: 'mllp',
    });
  };
  return {
    record: (entry) => writer.record(eventOf(entry)),
    inTransaction: (tx, entry) => writeFirstVersions(tx, [writer.toWrite(eventOf(entry))]),
  };
}

/** Where the trail is mounted, and what it records for routes that are not FHIR paths. */
export interface AuditTrailOptions {
  /** The mount path, recorded before req.url (default /fhir). */
  mount?: string;
  action?: AuditAction;
  /** The resource or query touched, read when the response ends (the body is parsed by then). */
  what?: (req: Request) => AuditWhat;
  /**
   * Where writes turned away that touched nothing (`auditDiscarded`, answered 202) are counted
   * instead of recorded one by one; without it they are recorded like every request.
   */
  summary?: AuditSummary | undefined;
}

/**
 * What a route tells the trail through res.locals beyond the request line: the entities a batch
 * read (`auditEntities`), the interaction when the path cannot say (`auditSubtype`), and a caller
 * that is not an API client (`auditExternal`, a CDS Hooks EHR), and a write turned away that touched
 * nothing (`auditDiscarded`: the reason it is counted under in the summary).
 */
export interface AuditLocals {
  auditEntities?: readonly AuditWhat[];
  auditSubtype?: RestfulInteraction;
  auditExternal?: ExternalRequestor;
  auditDiscarded?: string;
}

/** Why a refused request failed, from the body it is answered with (OperationOutcome or JSON error). */
function failureReason(chunk: unknown): string | undefined {
  const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : undefined;
  if (!text || text.length > 65536 || !text.startsWith('{')) return undefined;
  try {
    const body = JSON.parse(text) as {
      issue?: { details?: { text?: string }; diagnostics?: string; code?: string }[];
      error?: string;
      message?: string;
      error_description?: string;
    };
    const issue = body.issue?.[0];
    const reason =
      issue?.details?.text ?? issue?.diagnostics ?? issue?.code ?? body.message ?? body.error_description ?? body.error;
    return typeof reason === 'string' ? reason.slice(0, 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** /app/api/status/{patient}: the Patient whose trial status was read. */
export function statusPatient(req: Request): { reference?: string; type?: string } {
  const m = /\/status\/([A-Za-z0-9\-.]{1,64})(?:[/?]|$)/.exec(req.originalUrl);
  return m?.[1] ? { reference: `Patient/${m[1]}`, type: 'Patient' } : { type: 'Patient' };
}

/** A CDS Hooks call: the Patient of its context (the body is parsed by the time the response ends). */
export function cdsPatient(req: Request): { reference?: string; type?: string } {
  const body = req.body as { context?: { patientId?: unknown } } | undefined;
  const id = typeof body?.context?.patientId === 'string' ? body.context.patientId.replace(/^Patient\//, '') : '';
  return /^[A-Za-z0-9\-.]{1,64}$/.test(id) ? { reference: `Patient/${id}`, type: 'Patient' } : { type: 'Patient' };
}

export function auditTrail(writer: AuditWriter, logger: Logger, options: AuditTrailOptions = {}): RequestHandler {
  const mount = options.mount ?? '/fhir';
  const summary = options.summary;
  return (req, res, next) => {
    // The path under the mount, taken now: a refused request is answered by the app's error handler,
    // by which time Express has put the mount back into req.url (/fhir/Observation?… instead of
    // /Observation?…), which recorded a refusal's type and query wrongly.
    const path = req.url;
    const originalEnd = res.end.bind(res) as (...args: unknown[]) => Response;
    let ended = false;
    res.end = ((...args: unknown[]) => {
      if (ended) return res;
      ended = true;
      if (res.locals.audited === true) return originalEnd(...args);
      const locals = res.locals as AuditLocals;
      const access = res.locals.access as AccessContext | undefined;
      if (summary && locals.auditDiscarded !== undefined && access && res.statusCode === 202) {
        // Nothing was stored or touched: counted in the client's next summary AuditEvent.
        summary.count(access, locals.auditDiscarded);
        return originalEnd(...args);
      }
      const method = req.method.toUpperCase();
      const action = options.action ?? actionOf(method, path);
      const what = options.what ? options.what(req) : whatOf(path, res, action);
      // POST _search carries its query in the body (src/fhir/http/routes.ts keeps it here).
      const formQuery = res.locals.auditQuery as string | undefined;
      const outcome = outcomeOf(res.statusCode);
      const event = buildAuditEvent({
        access,
        external: locals.auditExternal,
        action,
        outcome,
        subtype: locals.auditSubtype,
        outcomeDesc: outcome === '0' ? undefined : (failureReason(args[0]) ?? `HTTP ${res.statusCode}`),
        entities: locals.auditEntities,
        what: formQuery !== undefined ? { ...what, query: formQuery } : what,
        sourceAddress: req.ip,
        recorded: new Date(),
        requestId: res.locals.reqId as string | undefined,
        httpMethod: method,
        path: `${mount}${path}`,
      });
      writer.record(event).then(
        () => originalEnd(...args),
        (err: unknown) => {
          // Without its audit record the response must not claim success.
          logger.error('audit write failed', { err, reqId: res.locals.reqId });
          if (!res.headersSent) {
            const body = JSON.stringify({
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'error', code: 'transient', details: { text: 'Audit trail unavailable; retry' } }],
            });
            // The headers were set for the response being replaced: its length and validators would
            // leave a keep-alive client waiting for bytes that never come, or describe another body.
            for (const name of res.getHeaderNames()) {
              if (/^(content-|etag$|last-modified$|location$)/.test(name)) res.removeHeader(name);
            }
            res.status(503);
            res.setHeader('content-type', 'application/fhir+json; charset=utf-8');
            res.setHeader('content-length', String(Buffer.byteLength(body)));
            res.setHeader('retry-after', '1');
            originalEnd(body);
          } else {
            res.destroy();
          }
        },
      );
      return res;
    }) as typeof res.end;
    next();
  };
}

/**
 * POST [type]/_search carries its query in a form body, which the FHIR router reads only after
 * authentication: read here, before it, so that a request refused with 401 still leaves its query
 * in the audit trail (issue 17). The router then finds the body already read.
 */
export function auditFormSearch(bodyLimit: string): RequestHandler {
  // Read before authentication, so an anonymous caller can make the service buffer it: capped far
  // below BODY_LIMIT (a search form is parameters, SEARCH_MAX_VALUES of them, not resources).
  const limit = Math.min(sizeInBytes(bodyLimit), SEARCH_FORM_LIMIT_BYTES);
  const readForm = express.raw({ type: 'application/x-www-form-urlencoded', limit });
  return (req, res, next) => {
    if (req.method !== 'POST' || !/^\/[A-Za-z]+\/_search(?:\?|$)/.test(req.url)) {
      next();
      return;
    }
    readForm(req, res, (err?: unknown) => {
      if (!err && Buffer.isBuffer(req.body)) {
        const i = req.url.indexOf('?');
        const query = new URLSearchParams(i < 0 ? '' : req.url.slice(i + 1));
        for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) query.append(k, v);
        res.locals.auditQuery = query.toString();
      }
      next(err);
    });
  };
}

/** The largest POST _search form read (1 MiB); larger is a 413 before anything else happens. */
const SEARCH_FORM_LIMIT_BYTES = 1024 * 1024;

/** BODY_LIMIT's form (config.ts: digits then b, kb or mb) in bytes. */
function sizeInBytes(limit: string): number {
  const m = /^(\d+)(b|kb|mb)$/i.exec(limit);
  if (!m) return SEARCH_FORM_LIMIT_BYTES;
  const unit = m[2]!.toLowerCase();
  return Number(m[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
}
