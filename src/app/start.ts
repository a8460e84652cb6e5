/**
 * Service lifecycle: configuration, store, trial definitions, access control, HTTP; and a graceful
 * stop on SIGTERM/SIGINT that drains in-flight requests before closing the store.
 */

import { readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { loadFhirDefinitions } from '../fhir/definitions.ts';
import { createValidator } from '../fhir/validate.ts';
import { EnrollmentIndex } from '../ingest/enrollment-index.ts';
import { Intake } from '../ingest/intake.ts';
import { RoutingTable } from '../ingest/routing-table.ts';
import { loadConceptMaps } from '../mapping/load-concept-maps.ts';
import { loadStudyDefinitions } from '../mapping/load-studies.ts';
import { loadUnitAliases } from '../mapping/load-unit-aliases.ts';
import { loadProfiles } from '../mapping/profiles.ts';
import { toResearchStudy } from '../mapping/research-study.ts';
import { createEnrollmentRule } from '../records/enrollment-rules.ts';
import { TrialRecordDeriver } from '../records/trial-records.ts';
import type { Db } from '../store/db.ts';
import { openDb } from '../store/open-db.ts';
import { AuditWriter } from './audit-trail.ts';
import { createAuthLayer } from './auth-wiring.ts';
import { type Config, loadConfig } from './config.ts';
import { createApp } from './create-app.ts';
import { loadTrialResources } from './load-trial.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';

export interface RunningService {
  server: Server;
  db: Db;
  config: Config;
  url: string;
  stop(): Promise<void>;
}

function publicHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export interface StartOverrides {
  logger?: Logger | undefined;
  /** An already opened store (tests); the service then leaves closing it to the caller. */
  db?: Db | undefined;
}

export async function startService(
  env: NodeJS.ProcessEnv = process.env,
  overrides: StartOverrides = {},
): Promise<RunningService> {
  let config = loadConfig(env);
  const log = overrides.logger ?? createLogger(config.LOG_LEVEL);
  loadFhirDefinitions();
  const studies = await loadStudyDefinitions(config.STUDIES_DIR);
  const profiles = await loadProfiles(config.PROFILES_DIR);
  const ownsDb = overrides.db === undefined;
  const db =
    overrides.db ??
    (await openDb({
      databaseUrl: config.DATABASE_URL,
      dataDir: config.DATA_DIR,
      poolSize: config.DB_POOL_SIZE,
      schema: config.DATABASE_SCHEMA,
    }));
  let server: Server | undefined;
  try {
    // Listen first: with PORT=0 the public URL (token audience, Location headers) is known only now.
    let handler: RequestListener = (_req, res) => {
      res.writeHead(503, { 'Retry-After': '1' }).end();
    };
    const srv = createServer((req, res) => handler(req, res));
    server = srv;
    srv.listen(config.PORT, config.HOST);
    await new Promise<void>((resolve, reject) => {
      srv.once('listening', resolve);
      srv.once('error', reject);
    });
    srv.keepAliveTimeout = 5_000;
    const address = srv.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    const url = `http://${config.HOST}:${port}`;
    if (!config.PUBLIC_BASE_URL) config = { ...config, publicBaseUrl: `http://${publicHost(config.HOST)}:${port}` };

    const validator = createValidator(profiles, [createEnrollmentRule(studies)]);
    const fhirBase = `${config.publicBaseUrl}/fhir`;
    const loaded = await loadTrialResources(db, fhirBase, validator, studies.map(toResearchStudy));
    const auth = await createAuthLayer({ config, db, logger: log });
    let draining = false;
    const audit = new AuditWriter(db, fhirBase);
    const metrics = createMetrics();
    const routing = new RoutingTable(studies, await loadConceptMaps(config.CONCEPTMAPS_DIR));
    const unitAliases = await loadUnitAliases(config.UNIT_ALIASES_FILE);
    const intake = new Intake(
      new EnrollmentIndex(),
      routing,
      fhirBase,
      metrics.ingestResults,
      new TrialRecordDeriver(studies, unitAliases),
    );
    const app = createApp({
      config,
      db,
      audit,
      metrics,
      intake,
      reloadMappings: async () => {
        intake.setRoutingTable(new RoutingTable(studies, await loadConceptMaps(config.CONCEPTMAPS_DIR)));
      },
      logger: log,
      auth,
      validator,
      version: packageVersion(),
      draining: () => draining,
    });
    handler = app;
    log.info('service listening', {
      url,
      fhirBase,
      store: db.backend === 'pglite' ? `pglite:${config.DATA_DIR}` : 'postgresql',
      studies: loaded,
    });
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        draining = true;
        log.info('draining in-flight requests');
        const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
        srv.closeIdleConnections();
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS).unref());
        await Promise.race([closed, timeout]);
        srv.closeAllConnections();
        await audit.drain();
        await auth.close?.();
        if (ownsDb) await db.close();
        log.info('stopped');
      })();
      return stopping;
    };
    return { server: srv, db, config, url, stop };
  } catch (err) {
    server?.close();
    if (ownsDb) await db.close().catch(() => undefined);
    throw err;
  }
}
