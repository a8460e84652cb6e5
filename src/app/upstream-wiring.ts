/**
 * Wires the EHR integration (issue #6) into the service: the write-back outbox worker, pull and
 * backfill, the Subscription notification endpoint and queue, their scheduled jobs, and the admin
 * routes for jobs and the outbox. Upstream work is off while UPSTREAM_FHIR_URL is unset; the job
 * runner, the outbox (which keeps queueing) and the admin routes are always there.
 */
import type { Router } from 'express';
import express from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import type { FhirContext } from '../fhir/fhir-context.ts';
import type { ResourceValidator } from '../fhir/validate.ts';
import type { WritePipeline } from '../fhir/write-pipeline.ts';
import type { Intake } from '../ingest/intake.ts';
import { createSubscriptionRouter } from '../ingest/subscription-api.ts';
import { SubscriptionProcessor } from '../ingest/subscription-processor.ts';
import { ensureSubscription } from '../ingest/subscription-setup.ts';
import { createUpstreamFeed } from '../ingest/upstream-feed.ts';
import { UpstreamPull } from '../ingest/upstream-pull.ts';
import type { JobRunner } from '../jobs/job-runner.ts';
import { createJobsRouter } from '../jobs/jobs-api.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import { listSubscriptionStates } from '../store/subscription-store.ts';
import { retryUntilDone } from '../writeback/backoff.ts';
import { createOutboxRouter } from '../writeback/outbox-api.ts';
import { registerOutboxMetrics } from '../writeback/outbox-metrics.ts';
import { OutboxWorker } from '../writeback/outbox-worker.ts';
import { createTokenSource } from '../writeback/upstream-auth.ts';
import { UpstreamClient } from '../writeback/upstream-client.ts';
import { neededScopes, ScopeCheck } from '../writeback/upstream-scopes.ts';
import type { AuthLayer } from './auth-layer.ts';
import type { Config } from './config.ts';
import type { Metrics } from './metrics.ts';
import { upstreamScopeNeeds } from './upstream-config.ts';

export interface UpstreamDeps {
  config: Config;
  db: Db;
  logger: Logger;
  metrics: Metrics;
  auth: AuthLayer;
  validator: ResourceValidator;
  intake: Intake;
  pipeline: WritePipeline;
  fhirBase: string;
  studies: readonly StudyDefinition[];
  jobs: JobRunner;
}

export interface UpstreamWiring {
  router: Router;
  upstream: UpstreamClient | undefined;
  worker: OutboxWorker | undefined;
  pull: UpstreamPull | undefined;
  subscriptions: SubscriptionProcessor;
  /** Creates the upstream Subscription when SUBSCRIPTION_TOPIC is set; undefined otherwise. */
  ensureSubscription: (() => Promise<string>) | undefined;
  /** Granted against needed scopes (undefined without an upstream). */
  scopes: ScopeCheck | undefined;
  /**
   * Start-up work, once the service serves: a token now (checking the granted scopes) and the
   * Subscription set-up, each retried with backoff until it succeeds (not left to a schedule).
   */
  start(): void;
  /** Stops the start-up work still retrying. */
  stop(): Promise<void>;
}

/** Default schedules (node-cron, seconds field first); JOB_SCHEDULES overrides any of them. */
export const DEFAULT_SCHEDULES = {
  'outbox-delivery': '*/5 * * * * *',
  'upstream-pull': '0 */15 * * * *',
  'upstream-backfill': '*/30 * * * * *',
  'subscription-queue': '*/10 * * * * *',
  'subscription-check': '0 * * * * *',
  'subscription-setup': '0 */10 * * * *',
} as const;

/** Who pulled and notified resources are written as: an EHR feed, with the feed's ceiling. */
const UPSTREAM_ACCESS: AccessContext = {
  clientId: 'upstream',
  clientName: 'Upstream pull and subscriptions (internal)',
  role: 'ehr-feed',
  scopes: ['system/*.cruds'],
  tokenId: 'internal',
};

export async function wireUpstream(deps: UpstreamDeps): Promise<UpstreamWiring> {
  const { config, db, jobs, logger } = deps;
  const log = logger.child({ component: 'upstream' });
  const alertAgeSeconds = config.OUTBOX_ALERT_AGE_MINUTES * 60;
  registerOutboxMetrics(deps.metrics.registry, db, alertAgeSeconds);

  const context = (): FhirContext => ({
    db,
    baseUrl: deps.fhirBase,
    access: UPSTREAM_ACCESS,
    authorize: (type, interaction) => deps.auth.authorize(UPSTREAM_ACCESS, type, interaction),
    can: (type, interaction) => {
      try {
        deps.auth.authorize(UPSTREAM_ACCESS, type, interaction);
        return true;
      } catch {
        return false;
      }
    },
    validator: deps.validator,
    pipeline: deps.pipeline,
    gate: deps.pipeline.session(),
  });

  let upstream: UpstreamClient | undefined;
  let worker: OutboxWorker | undefined;
  let pull: UpstreamPull | undefined;
  let scopes: ScopeCheck | undefined;
  const startup: { name: string; run: () => Promise<void> }[] = [];
  if (config.UPSTREAM_FHIR_URL) {
    const needed = neededScopes(upstreamScopeNeeds(config));
    const check = new ScopeCheck(
      needed,
      config.UPSTREAM_SCOPE.split(/\s+/).filter((x) => x.length > 0),
      (missing, state) =>
        log.warn('the EHR did not grant every scope the enabled features need; their requests will be refused', {
          missing,
          needed: state.needed,
          granted: state.granted,
        }),
    );
    scopes = check;
    upstream = new UpstreamClient({
      fhirUrl: config.UPSTREAM_FHIR_URL,
      timeoutMs: config.UPSTREAM_TIMEOUT_MS,
      tokens: await createTokenSource(config, { onGranted: (granted) => check.record(granted) }),
    });
    const u = upstream;
    // A static bearer token has no token response to check.
    if (config.UPSTREAM_AUTH !== 'bearer') {
      startup.push({
        name: 'upstream-token',
        run: async () => {
          try {
            await u.authenticate();
          } catch (err) {
            check.failed((err as Error).message);
            throw err;
          }
        },
      });
    }
    worker = new OutboxWorker({
      db,
      upstream,
      logger: log,
      maxAgeMs: config.OUTBOX_MAX_AGE_HOURS * 3_600_000,
      backoff: { baseMs: config.OUTBOX_BACKOFF_BASE_MS, maxMs: config.OUTBOX_BACKOFF_MAX_MS },
      batchSize: config.OUTBOX_BATCH_SIZE,
      leaseMs: config.UPSTREAM_TIMEOUT_MS * 3,
    });
    const w = worker;
    // Every instance delivers: rows are claimed with SKIP LOCKED, so they share the queue.
    jobs.scheduleJob({
      name: 'outbox-delivery',
      cron: DEFAULT_SCHEDULES['outbox-delivery'],
      exclusive: false,
      run: async ({ signal }) => {
        await w.drain(signal);
      },
    });
    pull = new UpstreamPull({
      db,
      upstream,
      feed: createUpstreamFeed({ db, upstreamBase: upstream.fhirBase, context }),
      studies: deps.studies,
      logger: log,
      pageSize: config.UPSTREAM_PULL_PAGE_SIZE,
    });
    const p = pull;
    jobs.scheduleJob({
      name: 'upstream-pull',
      cron: DEFAULT_SCHEDULES['upstream-pull'],
      run: async ({ signal }) => {
        const s = await p.pullAll(signal);
        if (s.errors.length > 0) throw new Error(`UPSTREAM_PULL_INCOMPLETE: ${s.errors.slice(0, 3).join('; ')}`);
      },
    });
    jobs.scheduleJob({
      name: 'upstream-backfill',
      cron: DEFAULT_SCHEDULES['upstream-backfill'],
      run: async ({ signal }) => {
        const s = await p.backfillPending(signal);
        if (s.errors.length > 0) throw new Error(`UPSTREAM_BACKFILL_INCOMPLETE: ${s.errors.slice(0, 3).join('; ')}`);
      },
    });
  }

  const subscriptions = new SubscriptionProcessor({
    db,
    upstream,
    feed: createUpstreamFeed({ db, upstreamBase: upstream?.fhirBase ?? 'urn:none', context }),
    logger: log,
    repull: async () => pull?.pullAll(),
  });
  if (config.SUBSCRIPTION_SECRET) {
    jobs.scheduleJob({
      name: 'subscription-queue',
      cron: DEFAULT_SCHEDULES['subscription-queue'],
      exclusive: false,
      run: async ({ signal }) => {
        await subscriptions.drain(signal);
      },
    });
    jobs.scheduleJob({
      name: 'subscription-check',
      cron: DEFAULT_SCHEDULES['subscription-check'],
      run: async () => {
        await subscriptions.checkSilent(config.SUBSCRIPTION_HEARTBEAT_SECONDS * 2);
      },
    });
  }

  let ensure: (() => Promise<string>) | undefined;
  if (upstream && config.SUBSCRIPTION_SECRET && config.SUBSCRIPTION_TOPIC) {
    const u = upstream;
    const setup = {
      topic: config.SUBSCRIPTION_TOPIC,
      endpoint: `${config.publicBaseUrl}/subscriptions/notify/${config.SUBSCRIPTION_NAME}`,
      secret: config.SUBSCRIPTION_SECRET,
      header: config.SUBSCRIPTION_SECRET_HEADER,
      payload: config.SUBSCRIPTION_PAYLOAD,
      filter: config.SUBSCRIPTION_FILTER,
      heartbeatSeconds: config.SUBSCRIPTION_HEARTBEAT_SECONDS,
    };
    ensure = () => ensureSubscription(u, setup);
    // At start-up (retried with backoff until it exists), not up to one schedule interval later;
    // JOB_SCHEDULES turning the job off turns the set-up off.
    if (config.JOB_SCHEDULES?.['subscription-setup'] !== 'off') {
      startup.push({
        name: 'subscription-setup',
        run: async () => {
          await ensureSubscription(u, setup);
        },
      });
    }
    // Then kept: created again should someone delete it; a conditional create, so cheap.
    jobs.scheduleJob({
      name: 'subscription-setup',
      cron: DEFAULT_SCHEDULES['subscription-setup'],
      run: async () => {
        await ensureSubscription(u, setup);
      },
    });
  }

  const router = express.Router();
  router.use(
    createJobsRouter({
      jobs,
      authenticate: deps.auth.authenticate,
      subscriptions: () => listSubscriptionStates(db),
      upstream: () => ({ scopes: scopes?.state() ?? null }),
    }),
  );
  router.use(createOutboxRouter({ db, authenticate: deps.auth.authenticate, alertAgeSeconds }));
  router.use(
    createSubscriptionRouter({
      db,
      secret: config.SUBSCRIPTION_SECRET,
      header: config.SUBSCRIPTION_SECRET_HEADER,
      bodyLimit: config.BODY_LIMIT,
      onQueued: () => subscriptions.kick(),
    }),
  );
  const background = new AbortController();
  const running: Promise<boolean>[] = [];
  const policy = {
    baseMs: config.OUTBOX_BACKOFF_BASE_MS,
    maxMs: Math.min(config.OUTBOX_BACKOFF_MAX_MS, 60_000),
  };
  return {
    router,
    upstream,
    worker,
    pull,
    subscriptions,
    ensureSubscription: ensure,
    scopes,
    start() {
      for (const task of startup) {
        running.push(
          retryUntilDone(task.run, policy, background.signal, (err, attempts, delayMs) =>
            log.warn('upstream start-up step failed; retrying', { step: task.name, attempts, delayMs, err }),
          ),
        );
      }
    },
    async stop() {
      background.abort();
      await Promise.all(running);
    },
  };
}
