/**
 * Assembles the HTTP service: public discovery and health routes, then authentication, rate limit
 * and the FHIR API. Everything the app needs comes in as deps, so tests build it the same way.
 */
import { OperationOutcomeError } from '@medplum/core';
import express, { type Express, type Request, type Response } from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import { TokenBucketLimiter } from '../auth/rate-limit.ts';
import { buildCapabilityStatement } from '../fhir/capability-statement.ts';
import type { FhirContext } from '../fhir/fhir-context.ts';
import { createFhirRouter } from '../fhir/http/routes.ts';
import { FHIR_JSON, sendOutcome } from '../fhir/http/send.ts';
import { forbidden, notFound, unauthorized } from '../fhir/outcomes.ts';
import type { ResourceValidator } from '../fhir/validate.ts';
import { createDeadLetterRouter } from '../ingest/dead-letters-api.ts';
import type { Intake } from '../ingest/intake.ts';
import type { Db } from '../store/db.ts';
import { type AuditWriter, auditTrail, inlineCreateAudit } from './audit-trail.ts';
import type { AuthLayer } from './auth-layer.ts';
import type { Config } from './config.ts';
import { createErrorHandler } from './error-handler.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { requestContext } from './request-context.ts';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  auth: AuthLayer;
  validator: ResourceValidator;
  audit: AuditWriter;
  metrics: Metrics;
  intake: Intake;
  /** Re-reads mappings/ (dead-letter replay after a ConceptMap was fixed). */
  reloadMappings(): Promise<void>;
  version: string;
  /** Set while shutting down: /readyz answers 503 so load balancers stop sending work. */
  draining?: () => boolean;
}

export function createApp(deps: AppDeps): Express {
  const { config, db, logger, auth } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', 'loopback');
  app.use(requestContext(logger, deps.metrics));

  const fhirBase = `${config.publicBaseUrl}/fhir`;
  const capability = JSON.stringify(
    buildCapabilityStatement({ baseUrl: fhirBase, version: deps.version, security: auth.security }),
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
  // Each secret check costs tens of milliseconds of scrypt: bound token requests per address.
  const tokenLimiter = new TokenBucketLimiter({ requestsPerMinute: config.TOKEN_REQUESTS_PER_MINUTE });
  app.post('/auth/token', (req, res, next) => {
    const wait = tokenLimiter.take(req.ip ?? 'unknown');
    if (wait === 0) {
      next();
      return;
    }
    res.setHeader('Retry-After', String(wait));
    res.status(429).json({ error: 'slow_down', error_description: `Too many token requests; retry after ${wait} s` });
  });
  app.use(auth.router);

  // Operators' view; it names no patient but is not public (admin token, like every operation).
  app.get('/metrics', auth.authenticate, async (_req, res) => {
    const access = res.locals.access as AccessContext;
    if (access.role !== 'admin') throw new OperationOutcomeError(forbidden('Metrics are for the admin role'));
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  // Audit first, so that refused and unauthenticated requests are recorded too.
  app.use('/fhir', auditTrail(deps.audit, logger), auth.authenticate, auth.rateLimit);
  const context = (req: Request, res: Response): FhirContext => {
    const access = res.locals.access as AccessContext | undefined;
    if (!access) {
      // authenticate() always runs first; this guards a wiring mistake from opening the API.
      throw new OperationOutcomeError(unauthorized());
    }
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
      // What an EHR feed pushes goes through the ingest gate; other roles write the store directly.
      intake: access.role === 'ehr-feed' ? deps.intake.session() : undefined,
      auditInline: inlineCreateAudit(deps.audit, req, res),
    };
  };
  // Admin operations carry trial data too: audited like the FHIR API.
  app.use('/admin', auditTrail(deps.audit, logger));
  app.use(
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
      }),
    }),
  );
  app.use(
    '/fhir',
    createFhirRouter({ bodyLimit: config.BODY_LIMIT, maxBundleEntries: config.MAX_BUNDLE_ENTRIES, context }),
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
