/**
 * Assembles the HTTP service: public discovery and health routes, then authentication, rate limit
 * and the FHIR API. Everything the app needs comes in as deps, so tests build it the same way.
 */
import { OperationOutcomeError } from '@medplum/core';
import express, { type Express, type Request, type Response } from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import { TokenBucketLimiter } from '../auth/rate-limit.ts';
import { type AppRoutesDeps, createAppRouter } from '../cds/app-routes.ts';
import {
  BULK_DATA_INSTANTIATES,
  BULK_DATA_OPERATIONS,
  BULK_DATA_RESOURCE_OPERATIONS,
} from '../fhir/bulk/bulk-capability.ts';
import { createBulkExportRouter } from '../fhir/bulk/export-routes.ts';
import { buildCapabilityStatement } from '../fhir/capability-statement.ts';
import type { FhirContext } from '../fhir/fhir-context.ts';
import { createFhirRouter } from '../fhir/http/routes.ts';
import { FHIR_JSON, sendOutcome } from '../fhir/http/send.ts';
import type { ResourceValidator } from '../fhir/validate.ts';
import type { WritePipeline } from '../fhir/write-pipeline.ts';
import { createDeadLetterRouter } from '../ingest/dead-letters-api.ts';
import { createHl7Router } from '../ingest/hl7v2/hl7-http.ts';
import type { Hl7Ingest } from '../ingest/hl7v2/hl7-ingest.ts';
import type { Intake } from '../ingest/intake.ts';
import { StudyGroupSync } from '../ingest/study-group-sync.ts';
import { createReindexRouter } from '../jobs/reindex-api.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { createFlatExportRouter } from '../outcomes/flat-export-routes.ts';
import { createOutcomesRouter } from '../outcomes/outcomes-api.ts';
import type { OutcomeEngine } from '../outcomes/recompute.ts';
import type { Logger } from '../shared/logger.ts';
import { forbidden, notFound, unauthorized } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import type { AuditSummary } from './audit-summary.ts';
import {
  type AuditWriter,
  auditFormSearch,
  auditTrail,
  cdsPatient,
  inlineBundleAudit,
  inlineCreateAudit,
  statusPatient,
} from './audit-trail.ts';
import type { AuthLayer } from './auth-layer.ts';
import type { Config } from './config.ts';
import { createErrorHandler } from './error-handler.ts';
import { createHomeRouter } from './home-page.ts';
import type { Metrics } from './metrics.ts';
import { requestContext } from './request-context.ts';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  auth: AuthLayer;
  validator: ResourceValidator;
  audit: AuditWriter;
  /** Where writes turned away that touched nothing are counted (absent: each leaves its AuditEvent). */
  auditSummary?: AuditSummary | undefined;
  metrics: Metrics;
  intake: Intake;
  /** The trial's write pipeline (src/ingest/trial-pipeline.ts), registered with every FHIR context. */
  pipeline: WritePipeline;
  /** Re-reads mappings/ (dead-letter replay after a ConceptMap was fixed). */
  reloadMappings(): Promise<void>;
  version: string;
  /** The outcomes stage: admin recomputation, and a nudge after each write so outcomes follow quickly. */
  outcomes?: { engine: OutcomeEngine; nudge(): void } | undefined;
  /** Wakes this instance's $export worker after a kick-off (absent: other instances run jobs). */
  bulkExport?: { wake(): void } | undefined;
  /** Set while shutting down: /readyz answers 503 so load balancers stop sending work. */
  draining?: () => boolean;
  /** Admin jobs/outbox routes and the Subscription endpoint (src/app/upstream-wiring.ts). */
  upstreamRouter?: express.Router | undefined;
  /** The studies served (the trial page and coordinator overview read them). */
  studies?: readonly StudyDefinition[] | undefined;
  /** HL7 v2 over HTTP: the handler acting for an authenticated feed. */
  hl7For?: ((access: AccessContext) => Hl7Ingest) | undefined;
  /** CDS Hooks services (src/cds), with their own EHR authentication. */
  cdsRouter?: express.Router | undefined;
  /** The trial page's SMART sessions, patient matching and stale-trough rule (src/cds/app-routes.ts). */
  clinicianApp?: Pick<AppRoutesDeps, 'sessions' | 'mrnSystem' | 'troughStaleDays'> | undefined;
}

export function createApp(deps: AppDeps): Express {
  const { config, db, logger, auth } = deps;
  const app = express();
  app.disable('x-powered-by');
  // ETags are FHIR version ids, set where a resource goes out (src/fhir/http/send.ts); Express's
  // own content hashes would put one on searchsets and OperationOutcomes too. A conditional read
  // (If-None-Match) still gets its 304 from the version ETag.
  app.set('etag', false);
  app.set('query parser', 'simple');
  // X-Forwarded-For is believed only from the proxies named: otherwise any client could choose the
  // address its token requests are limited by and its AuditEvents record.
  const trustedProxies = config.TRUST_PROXY.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  app.set('trust proxy', trustedProxies.length > 0 ? trustedProxies : false);
  app.use(requestContext(logger, deps.metrics));

  const fhirBase = `${config.publicBaseUrl}/fhir`;
  const capability = JSON.stringify(
    buildCapabilityStatement({
      baseUrl: fhirBase,
      version: deps.version,
      security: auth.security,
      instantiates: [BULK_DATA_INSTANTIATES],
      operations: BULK_DATA_OPERATIONS,
      resourceOperations: BULK_DATA_RESOURCE_OPERATIONS,
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    if (deps.draining?.()) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    try {
      await db.query('SELECT 1');
      res.json({ status: 'ready', store: db.backend });
    } catch (err) {
      logger.warn('readiness check failed', { err });
      res.status(503).json({ status: 'unavailable', store: db.backend });
    }
  });
  app.get('/fhir/metadata', (_req, res) => {
    res.status(200).type(FHIR_JSON).send(capability);
  });
  // Routes that serve no /fhir path, grouped so that a FHIR request (most of the traffic: a
  // hospital feed's results) passes them with one test instead of matching each (issue 22). The
  // order of everything a /fhir request meets is unchanged.
  const besidePublic = express.Router();
  besidePublic.use(
    createHomeRouter({
      fhirBase,
      version: deps.version,
      studyTitles: (deps.studies ?? []).map((s) => `${s.identifier.value}: ${s.title}`),
    }),
  );
  // Each secret check costs tens of milliseconds of scrypt: bound token requests per address.
  const tokenLimiter = new TokenBucketLimiter({ requestsPerMinute: config.TOKEN_REQUESTS_PER_MINUTE });
  besidePublic.post('/auth/token', (req, res, next) => {
    const wait = tokenLimiter.take(req.ip ?? 'unknown');
    if (wait === 0) {
      next();
      return;
    }
    res.setHeader('Retry-After', String(wait));
    res.status(429).json({ error: 'slow_down', error_description: `Too many token requests; retry after ${wait} s` });
  });
  // Operators' view; it names no patient but is not public (admin token, like every operation).
  besidePublic.use(
    '/metrics',
    auditTrail(deps.audit, logger, {
      mount: '/metrics',
      action: 'E',
      what: () => ({ type: 'system', query: '/metrics' }),
    }),
  );
  besidePublic.get('/metrics', auth.authenticate, async (_req, res) => {
    const access = res.locals.access as AccessContext;
    if (access.role !== 'admin') throw new OperationOutcomeError(forbidden('Metrics are for the admin role'));
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use(besideFhir(besidePublic));
  app.use(auth.router);

  // Audit first, so that refused and unauthenticated requests are recorded too.
  app.use(
    '/fhir',
    auditTrail(deps.audit, logger, { summary: deps.auditSummary }),
    auditFormSearch(config.BODY_LIMIT),
    auth.authenticate,
    auth.rateLimit,
  );
  const writeBatcher = new WriteBatcher(db);
  const searchLimits = { maxParameters: config.SEARCH_MAX_PARAMETERS, maxValues: config.SEARCH_MAX_VALUES };
  const context = (req: Request, res: Response): FhirContext => {
    const access = res.locals.access as AccessContext | undefined;
    if (!access) {
      // authenticate() always runs first; this guards a wiring mistake from opening the API.
      throw new OperationOutcomeError(unauthorized());
    }
    // A client that hangs up stops its search before the next query (the answer would be thrown away).
    const hangUp = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) hangUp.abort();
    });
    return {
      db,
      baseUrl: fhirBase,
      access,
      authorize: (type, interaction) => auth.authorize(access, type, interaction),
      can: (type, interaction) => {
        try {
          auth.authorize(access, type, interaction);
          return true;
        } catch {
          return false;
        }
      },
      validator: deps.validator,
      // What an EHR feed pushes goes through the trial's gate; other roles' writes only when they
      // write a kept source (src/fhir/interactions/update.ts).
      pipeline: deps.pipeline,
      gate: access.role === 'ehr-feed' ? deps.pipeline.session() : undefined,
      auditInline: inlineCreateAudit(deps.audit, req, res),
      auditBundle: inlineBundleAudit(deps.audit, req, res),
      currentRole: auth.currentRole ? () => auth.currentRole?.(access) : undefined,
      writeBatcher,
      searchLimits,
      searchBudget: { ms: config.SEARCH_TIMEOUT_MS, signal: hangUp.signal },
    };
  };
  const studyGroups = new StudyGroupSync(db, fhirBase);
  const refreshGroups = (): Promise<void> => studyGroups.refresh();
  // Beside the FHIR API, the same way (none of these serves a /fhir path).
  const besideApi = express.Router();
  // Admin operations carry trial data too: audited like the FHIR API.
  besideApi.use('/admin', auditTrail(deps.audit, logger, { mount: '/admin' }));
  besideApi.use(
    createDeadLetterRouter({
      db,
      intake: deps.intake,
      authenticate: auth.authenticate,
      reloadMappings: deps.reloadMappings,
      context: (access) => ({
        db,
        baseUrl: fhirBase,
        access,
        authorize: (type, interaction) => auth.authorize(access, type, interaction),
        can: () => true,
        validator: deps.validator,
        pipeline: deps.pipeline,
      }),
    }),
  );
  besideApi.use(createReindexRouter({ db, baseUrl: fhirBase, authenticate: auth.authenticate }));
  const outcomes = deps.outcomes;
  if (outcomes) {
    besideApi.use(
      createOutcomesRouter({ db, engine: outcomes.engine, authenticate: auth.authenticate, nudge: outcomes.nudge }),
    );
  }
  // Research data off the FHIR API: audited like it.
  besideApi.use('/research', auditTrail(deps.audit, logger, { mount: '/research' }));
  besideApi.use(createFlatExportRouter({ db, studies: deps.studies ?? [], authenticate: auth.authenticate, logger }));
  if (deps.upstreamRouter) besideApi.use(deps.upstreamRouter);
  // The clinician's view and CDS calls read trial data: audited like the FHIR API (issue 17).
  besideApi.use(
    '/cds-services',
    auditTrail(deps.audit, logger, { mount: '/cds-services', action: 'E', what: cdsPatient }),
  );
  besideApi.use('/app/api', auditTrail(deps.audit, logger, { mount: '/app/api', action: 'R', what: statusPatient }));
  if (deps.cdsRouter) besideApi.use(deps.cdsRouter);
  besideApi.use(
    createAppRouter({
      db,
      studies: deps.studies ?? [],
      authenticate: auth.authenticate,
      clientId: config.SMART_CLIENT_ID,
      plateletsCriticalBelow: config.CDS_PLATELETS_CRITICAL_BELOW,
      sessions: deps.clinicianApp?.sessions,
      mrnSystem: deps.clinicianApp?.mrnSystem ?? config.PATIENT_MRN_SYSTEM,
      troughStaleDays: deps.clinicianApp?.troughStaleDays ?? config.CDS_TROUGH_STALE_DAYS,
    }),
  );
  if (deps.hl7For) {
    besideApi.use(
      createHl7Router({
        middleware: [auditTrail(deps.audit, logger), auth.authenticate, auth.rateLimit],
        bodyLimit: config.BODY_LIMIT,
        ingestFor: deps.hl7For,
      }),
    );
  }
  app.use(besideFhir(besideApi));
  if (outcomes) {
    // A committed write may have marked subjects: let the worker look now instead of at its next poll.
    app.use('/fhir', (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') res.on('finish', () => outcomes.nudge());
      next();
    });
  }
  app.use(
    '/fhir',
    createBulkExportRouter({
      context,
      bodyLimit: config.BODY_LIMIT,
      ttlHours: config.BULK_EXPORT_TTL_HOURS,
      minPollMs: config.BULK_EXPORT_MIN_POLL_MS,
      onKickoff: () => deps.bulkExport?.wake(),
      refreshGroups,
    }),
  );
  app.use(
    '/fhir',
    createFhirRouter({
      bodyLimit: config.BODY_LIMIT,
      maxBundleEntries: config.MAX_BUNDLE_ENTRIES,
      maxJsonDepth: config.MAX_JSON_DEPTH,
      context,
      refreshGroups,
    }),
  );

  app.use((req, res) => {
    const isApi = req.path.startsWith('/fhir');
    sendOutcome(
      res,
      404,
      isApi ? notFound(`Unknown path ${req.path}`) : notFound(`No route ${req.method} ${req.path}`),
    );
  });
  app.use(createErrorHandler(logger));
  return app;
}

/**
 * Runs `router` for every request except those under /fhir (matched as Express matches a mount:
 * case-insensitive), which go straight on: `router` must serve no /fhir path.
 */
function besideFhir(router: express.Router): express.RequestHandler {
  return (req, res, next) => {
    if (FHIR_PATH.test(req.url)) next();
    else router(req, res, next);
  };
}

const FHIR_PATH = /^\/fhir(?:[/?]|$)/i;
