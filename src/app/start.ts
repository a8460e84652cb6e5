/**
 * Service lifecycle: configuration, store, trial definitions, access control, HTTP; and a graceful
 * stop on SIGTERM/SIGINT that drains in-flight requests before closing the store.
 */

import { readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AccessContext } from '../auth/access-context.ts';
import { AppSessions } from '../auth/app-session.ts';
import { parseSmartEhrs, parseTrialUsers } from '../auth/ehr-config.ts';
import { EhrIdentityVerifier } from '../auth/ehr-identity.ts';
import { loadSigningKeys } from '../auth/signing-keys.ts';
import { TrialRoster } from '../auth/trial-roster.ts';
import { UsedJtiStore } from '../auth/used-jti.ts';
import { CdsAuthenticator } from '../cds/cds-auth.ts';
import { parseCdsClients } from '../cds/cds-config.ts';
import { createCdsRouter } from '../cds/cds-routes.ts';
import { parseOrigins } from '../cds/cors.ts';
import { loadFhirDefinitions } from '../fhir/definitions.ts';
import { createValidator } from '../fhir/validate.ts';
import { EnrollmentIndex } from '../ingest/enrollment-index.ts';
import { Hl7Ingest } from '../ingest/hl7v2/hl7-ingest.ts';
import { loadHl7Systems } from '../ingest/hl7v2/hl7-systems.ts';
import { MllpListener } from '../ingest/hl7v2/mllp-listener.ts';
import { Intake } from '../ingest/intake.ts';
import { relabelStored } from '../ingest/relabel.ts';
import { RoutingTable } from '../ingest/routing-table.ts';
import { trialPipeline } from '../ingest/trial-pipeline.ts';
import { auditRetentionJob, runAuditRetention } from '../jobs/audit-retention.ts';
import { BulkExportWorker } from '../jobs/bulk-export-worker.ts';
import { embeddedCheckpointJob } from '../jobs/embedded-checkpoint.ts';
import { embeddedMaintenanceJob } from '../jobs/embedded-maintenance.ts';
import { JobRunner } from '../jobs/job-runner.ts';
import { OutcomeWorker } from '../jobs/outcome-worker.ts';
import { checkSearchIndex } from '../jobs/reindex-state.ts';
import { loadConceptMaps } from '../mapping/load-concept-maps.ts';
import { checkStudyForms, loadQuestionnaires } from '../mapping/load-questionnaires.ts';
import { loadStudyDefinitions } from '../mapping/load-studies.ts';
import { loadUnitAliases } from '../mapping/load-unit-aliases.ts';
import { loadProfiles } from '../mapping/profiles.ts';
import { toResearchStudy } from '../mapping/research-study.ts';
import { toMeasure } from '../outcomes/measure.ts';
import { registerOutcomeMetrics } from '../outcomes/outcome-metrics.ts';
import { OutcomeEngine } from '../outcomes/recompute.ts';
import { createEnrollmentRule } from '../records/enrollment-rules.ts';
import { TrialRecordDeriver } from '../records/trial-records.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import { GateProbe } from '../store/gate-probe.ts';
import { enqueueOutbox } from '../writeback/outbox.ts';
import { AuditSummary } from './audit-summary.ts';
import { AuditWriter, mllpAudit } from './audit-trail.ts';
import { createAuthLayer } from './auth-wiring.ts';
import { type Config, loadConfig } from './config.ts';
import { createApp } from './create-app.ts';
import { loadTrialResources, withQuestionnaireId } from './load-trial.ts';
import { createMetrics } from './metrics.ts';
import { openStore } from './open-store.ts';
import { type UpstreamWiring, wireUpstream } from './upstream-wiring.ts';
import { whileStarting } from './while-starting.ts';

export interface RunningService {
  server: Server;
  db: Db;
  config: Config;
  url: string;
  /** Scheduled jobs: register more with jobs.scheduleJob({ name, cron, run }). */
  jobs: JobRunner;
  upstream: UpstreamWiring;
  stop(): Promise<void>;
  /** The outcomes stage (tests and benchmarks drain it to wait for recomputation). */
  outcomes: OutcomeEngine;
  /** The MLLP listener's port, when HL7_MLLP_PORT is set (0: any free port). */
  mllpPort: number | undefined;
  /** Counts of writes not retained, written as summary AuditEvents (tests flush it). */
  auditSummary: AuditSummary;
}

/** Who HL7 v2 messages over MLLP are applied as (the connection is authorised by address and facility). */
const MLLP_ACCESS: AccessContext = {
  clientId: 'mllp',
  clientName: 'HL7 v2 over MLLP (internal)',
  role: 'ehr-feed',
  scopes: ['system/*.cruds'],
  tokenId: 'internal',
};

const list = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);

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
  const questionnaires = await loadQuestionnaires(config.QUESTIONNAIRES_DIR);
  checkStudyForms(studies, questionnaires);
  const ownsDb = overrides.db === undefined;
  const db =
    overrides.db ??
    (await openStore({
      databaseUrl: config.DATABASE_URL,
      dataDir: config.DATA_DIR,
      poolSize: config.DB_POOL_SIZE,
      schema: config.DATABASE_SCHEMA,
    }));
  let server: Server | undefined;
  try {
    // Listen first: with PORT=0 the public URL (token audience, Location headers) is known only now.
    let handler: RequestListener = whileStarting;
    const srv = createServer((req, res) => handler(req, res));
    server = srv;
    srv.listen(config.PORT, config.HOST);
    await new Promise<void>((resolve, reject) => {
      srv.once('listening', resolve);
      srv.once('error', reject);
    });
    // An idle keep-alive socket stays open longer than clients keep theirs (undici 4 s, interface
    // engines and load balancers up to 60 s), so a client never sends on a socket this side has just
    // closed (ECONNRESET on a request that was never read). Node's default is 5 s.
    srv.keepAliveTimeout = 65_000;
    srv.headersTimeout = 66_000;
    const address = srv.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    const url = `http://${config.HOST}:${port}`;
    if (!config.PUBLIC_BASE_URL) config = { ...config, publicBaseUrl: `http://${publicHost(config.HOST)}:${port}` };

    const validator = createValidator(profiles, [createEnrollmentRule(studies)]);
    const fhirBase = `${config.publicBaseUrl}/fhir`;
    // Before the trial is loaded: a fresh store then has nothing stored and takes the current
    // search parameters as its own; an older one is told which types to reindex.
    await checkSearchIndex(db, log);
    const loaded = await loadTrialResources(db, fhirBase, validator, [
      ...studies.map(toResearchStudy),
      ...studies.map(toMeasure),
      ...questionnaires.map(withQuestionnaireId),
    ]);
    const auth = await createAuthLayer({ config, db, logger: log });
    let draining = false;
    const audit = new AuditWriter(db, fhirBase);
    const metrics = createMetrics();
    const auditSummary = new AuditSummary({
      record: (event) => audit.record(event),
      logger: log,
      counter: metrics.notRetainedWrites,
      intervalMs: config.AUDIT_SUMMARY_INTERVAL_SECONDS * 1000,
    });
    const routing = new RoutingTable(studies, await loadConceptMaps(config.CONCEPTMAPS_DIR));
    // Before anything is served: data stored under other arm-revealing declarations gets the label
    // these declarations give it (a no-op when they have not changed; shared by instances).
    await relabelStored(db, routing, fhirBase, { logger: log });
    const unitAliases = await loadUnitAliases(config.UNIT_ALIASES_FILE);
    const intake = new Intake(
      new EnrollmentIndex(),
      routing,
      fhirBase,
      metrics.ingestResults,
      new TrialRecordDeriver(studies, unitAliases, questionnaires, profiles),
      new GateProbe(db),
    );
    // The trial's side of every FHIR write (src/ingest/trial-pipeline.ts), given to every context.
    const pipeline = trialPipeline(intake);
    // Every outcome version is queued for write-back in the transaction that publishes it; the
    // outbox coalesces by business identifier, so it stays bounded while no upstream is configured.
    registerOutcomeMetrics(metrics.registry, db);
    // A batch of recomputation is one transaction. PGlite runs every statement on one connection in
    // this thread, so each statement of every request waits for an open batch to end: 200 subjects
    // held it 6-9 s at a time during a first computation (bench/outcomes-recompute.ts). There the
    // batches adapt to take OUTCOMES_PGLITE_BATCH_MS; a server runs requests beside them.
    const batchTargetMs = db.backend === 'pglite' ? config.OUTCOMES_PGLITE_BATCH_MS : undefined;
    const engine = new OutcomeEngine(db, fhirBase, studies, {
      questionnaires,
      ...(batchTargetMs === undefined ? {} : { batchTargetMs }),
      // The MeasureReport recount too, a pair at a time (the whole study took 1-2 s at 10,000 subjects).
      recountByPair: db.backend === 'pglite',
      // Two batches at once on a server (one computed while the other is written); PGlite has one connection.
      batchesAtOnce: db.backend === 'postgresql' ? 2 : 1,
      onBatchError: (err) => log.warn('outcome batch failed; recomputing its subjects one by one', { err }),
      onPublished: (q, published) =>
        enqueueOutbox(
          q,
          published.map((p) => ({
            resourceType: p.resourceType,
            id: p.id,
            versionId: p.versionId,
            identifier: p.identifier,
            operation: p.operation,
            resource: p.resource,
            // The version just written: the outbox reads it back when it sends it (no second copy).
            stored: true,
          })),
        ),
    });
    const worker = new OutcomeWorker(engine, log, { idleMs: config.OUTCOMES_IDLE_MS });
    const jobs = new JobRunner({ db, logger: log, schedules: config.JOB_SCHEDULES });
    // A PostgreSQL server has autovacuum and a checkpointer for these; PGlite in single-user mode has neither.
    if (db.backend === 'pglite') {
      jobs.scheduleJob(embeddedMaintenanceJob(db, log));
      jobs.scheduleJob(embeddedCheckpointJob(db));
    }
    // The audit trail's partitions for this month and the next ones exist before the first request.
    const auditRetention = {
      retentionMonths: config.AUDIT_RETENTION_MONTHS,
      partitionsAhead: config.AUDIT_PARTITIONS_AHEAD,
    };
    await runAuditRetention(db, auditRetention);
    jobs.scheduleJob(auditRetentionJob(db, log, auditRetention));
    const upstream = await wireUpstream({
      config,
      db,
      logger: log,
      metrics,
      auth,
      validator,
      intake,
      pipeline,
      fhirBase,
      studies,
      jobs,
    });
    const hl7Systems = await loadHl7Systems(config.HL7_SYSTEMS_FILE);
    // A v2 message is applied as the feed that sent it; recording the message's Provenance is the
    // adapter's own act, so that one write is allowed beyond the feed's role.
    const hl7For = (access: AccessContext): Hl7Ingest =>
      new Hl7Ingest({
        systems: hl7Systems,
        intake,
        logger: log,
        context: () => ({
          db,
          baseUrl: fhirBase,
          access,
          authorize: (type, interaction) => {
            if (type === 'Provenance' && interaction === 'create') return;
            auth.authorize(access, type, interaction);
          },
          can: () => false,
          validator,
          pipeline,
          gate: pipeline.session(),
          serviceCreates: new Set(['Provenance']),
        }),
      });
    const mllp =
      config.HL7_MLLP_PORT === undefined
        ? undefined
        : new MllpListener(hl7For(MLLP_ACCESS), log.child({ component: 'mllp' }), {
            port: config.HL7_MLLP_PORT,
            host: config.HL7_MLLP_HOST,
            maxMessageBytes: config.HL7_MLLP_MAX_MESSAGE_BYTES,
            allowAddresses: list(config.HL7_MLLP_ALLOW_ADDRESSES),
            allowFacilities: list(config.HL7_MLLP_ALLOW_FACILITIES),
            audit: mllpAudit(audit, MLLP_ACCESS),
          });
    const bulkExport =
      config.BULK_EXPORT_WORKER === 'true'
        ? new BulkExportWorker({
            db,
            logger: log,
            baseUrl: fhirBase,
            batchSize: config.BULK_EXPORT_BATCH_SIZE,
            leaseSeconds: config.BULK_EXPORT_LEASE_SECONDS,
            ttlHours: config.BULK_EXPORT_TTL_HOURS,
            maxAttempts: config.BULK_EXPORT_MAX_ATTEMPTS,
            throttleMs: config.BULK_EXPORT_THROTTLE_MS,
          })
        : undefined;
    const roster = new TrialRoster(parseTrialUsers(config.TRIAL_USERS), db);
    const smartEhrs = parseSmartEhrs(config.SMART_EHRS);
    // The same shared key as the token endpoint's (loading it again only reads it back).
    const sessionKeys = smartEhrs.length > 0 ? await loadSigningKeys(db) : undefined;
    const app = createApp({
      outcomes: { engine, nudge: () => worker.nudge() },
      config,
      bulkExport,
      db,
      audit,
      auditSummary,
      metrics,
      intake,
      pipeline,
      reloadMappings: async () => {
        const table = new RoutingTable(studies, await loadConceptMaps(config.CONCEPTMAPS_DIR));
        intake.setRoutingTable(table);
        await relabelStored(db, table, fhirBase, { logger: log });
      },
      logger: log,
      auth,
      validator,
      version: packageVersion(),
      draining: () => draining,
      upstreamRouter: upstream.router,
      hl7For,
      studies,
      cdsRouter: createCdsRouter({
        db,
        logger: log,
        studies,
        auth: new CdsAuthenticator(parseCdsClients(config.CDS_CLIENTS), new UsedJtiStore(db)),
        baseUrl: `${config.publicBaseUrl}/cds-services`,
        appUrl: config.CDS_APP_URL ?? `${config.publicBaseUrl}/app/launch`,
        plateletsCriticalBelow: config.CDS_PLATELETS_CRITICAL_BELOW,
        troughStaleDays: config.CDS_TROUGH_STALE_DAYS,
        allowedOrigins: parseOrigins(config.CDS_ALLOWED_ORIGINS),
        mrnSystem: config.PATIENT_MRN_SYSTEM,
        roster,
      }),
      clinicianApp: {
        mrnSystem: config.PATIENT_MRN_SYSTEM,
        troughStaleDays: config.CDS_TROUGH_STALE_DAYS,
        sessions: sessionKeys
          ? {
              issuer: new AppSessions(sessionKeys, config.publicBaseUrl, config.APP_SESSION_MINUTES * 60),
              identity: new EhrIdentityVerifier(smartEhrs),
              roster,
            }
          : undefined,
      },
    });
    handler = app;
    upstream.start();
    if (config.OUTCOMES_WORKER === 'on') worker.start();
    const mllpPort = mllp ? await mllp.start() : undefined;
    bulkExport?.start();
    auditSummary.start();
    log.info('service listening', {
      url,
      fhirBase,
      store: db.backend === 'pglite' ? `pglite:${config.DATA_DIR}` : 'postgresql',
      studies: loaded,
      ...(mllpPort !== undefined ? { mllpPort } : {}),
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
        await mllp?.stop();
        await worker.stop();
        await upstream.stop();
        await jobs.stop();
        // Hands a running export's lease back, so another instance resumes it at once.
        await bulkExport?.stop();
        // Every request is answered by now: what was counted since the last summary is written.
        await auditSummary.close();
        await audit.drain();
        await auth.close?.();
        if (ownsDb) await db.close();
        log.info('stopped');
      })();
      return stopping;
    };
    return { server: srv, db, config, url, jobs, upstream, stop, outcomes: engine, mllpPort, auditSummary };
  } catch (err) {
    server?.close();
    if (ownsDb) await db.close().catch(() => undefined);
    throw err;
  }
}
