/**
 * Settings for the upstream FHIR server (the EHR's, or a research repository) and the jobs that talk
 * to it. Spread into the main schema in config.ts; everything is off while UPSTREAM_FHIR_URL is unset.
 */
import { validate as validCron } from 'node-cron';
import * as z from 'zod';
import { appError } from '../shared/app-error.ts';
import type { ScopeNeeds } from '../writeback/upstream-scopes.ts';

const cronOrOff = z.string().refine((v) => v === 'off' || validCron(v), { error: 'not a cron expression (or "off")' });

const JobSchedules = z.record(z.string().regex(/^[a-z0-9-]+$/), cronOrOff);

export const UpstreamConfigShape = {
  UPSTREAM_FHIR_URL: z.url().optional(),
  UPSTREAM_AUTH: z.enum(['smart-backend', 'client-secret', 'bearer']).optional(),
  UPSTREAM_TOKEN_URL: z.url().optional(),
  UPSTREAM_CLIENT_ID: z.string().min(1).optional(),
  UPSTREAM_CLIENT_SECRET: z.string().min(1).optional(),
  /** PEM (PKCS#8) private key for SMART Backend Services client assertions. */
  UPSTREAM_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  UPSTREAM_KEY_ID: z.string().min(1).optional(),
  UPSTREAM_KEY_ALG: z.enum(['RS384', 'ES384']).default('RS384'),
  /** Default: derived from what is enabled (upstreamScopeNeeds). */
  UPSTREAM_SCOPE: z.string().min(1).optional(),
  UPSTREAM_BEARER_TOKEN: z.string().min(1).optional(),
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  /** Retryable failures are retried for as long as an item has been pending up to this age, then dead-lettered. */
  OUTBOX_MAX_AGE_HOURS: z.coerce.number().positive().max(8760).default(72),
  /** khe_outbox_alert and GET /admin/outbox raise an alert when the oldest pending item is older. */
  OUTBOX_ALERT_AGE_MINUTES: z.coerce.number().positive().default(60),
  OUTBOX_BACKOFF_BASE_MS: z.coerce.number().int().min(1).default(1_000),
  OUTBOX_BACKOFF_MAX_MS: z.coerce.number().int().min(1).default(900_000),
  OUTBOX_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
  UPSTREAM_PULL_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(100),
  /** JSON object of job name → cron expression (6 fields allowed) or "off", overriding defaults. */
  JOB_SCHEDULES: z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
        return z.NEVER;
      }
    })
    .pipe(JobSchedules)
    .optional(),
  /** Shared secret a Subscription notifier must present (Authorization: Bearer, or the header below). */
  SUBSCRIPTION_SECRET: z.string().min(16, { error: 'at least 16 characters' }).optional(),
  /** A subscription silent for longer than this (seconds) is checked with $status and re-pulled. */
  SUBSCRIPTION_HEARTBEAT_SECONDS: z.coerce.number().int().min(10).default(3600),
  /** Topic canonical URL: when set (with the URL and secret), the Subscription is created upstream. */
  SUBSCRIPTION_TOPIC: z.url().optional(),
  SUBSCRIPTION_NAME: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/)
    .default('ehr'),
  SUBSCRIPTION_PAYLOAD: z.enum(['full-resource', 'id-only']).default('full-resource'),
  /** backport-filter-criteria, e.g. Observation?category=laboratory */
  SUBSCRIPTION_FILTER: z.string().min(1).optional(),
  SUBSCRIPTION_SECRET_HEADER: z
    .string()
    .regex(/^[a-z0-9-]+$/, { error: 'a lower-case header name' })
    .default('authorization'),
};

interface UpstreamSettings {
  UPSTREAM_FHIR_URL?: string | undefined;
  UPSTREAM_AUTH?: 'smart-backend' | 'client-secret' | 'bearer' | undefined;
  UPSTREAM_TOKEN_URL?: string | undefined;
  UPSTREAM_CLIENT_ID?: string | undefined;
  UPSTREAM_CLIENT_SECRET?: string | undefined;
  UPSTREAM_PRIVATE_KEY_FILE?: string | undefined;
  UPSTREAM_BEARER_TOKEN?: string | undefined;
}

/** Cross-field checks: each authentication method needs its own settings. */
export function checkUpstreamConfig(c: UpstreamSettings): void {
  const missing = (key: string, why: string): never => {
    throw appError('CONFIG_INVALID', `${key}: required ${why}`);
  };
  if (!c.UPSTREAM_FHIR_URL) return;
  if (!c.UPSTREAM_AUTH) missing('UPSTREAM_AUTH', 'when UPSTREAM_FHIR_URL is set');
  if (c.UPSTREAM_AUTH === 'bearer' && !c.UPSTREAM_BEARER_TOKEN) missing('UPSTREAM_BEARER_TOKEN', 'for bearer');
  if (c.UPSTREAM_AUTH === 'client-secret' || c.UPSTREAM_AUTH === 'smart-backend') {
    if (!c.UPSTREAM_TOKEN_URL) missing('UPSTREAM_TOKEN_URL', `for ${c.UPSTREAM_AUTH}`);
    if (!c.UPSTREAM_CLIENT_ID) missing('UPSTREAM_CLIENT_ID', `for ${c.UPSTREAM_AUTH}`);
  }
  if (c.UPSTREAM_AUTH === 'client-secret' && !c.UPSTREAM_CLIENT_SECRET) {
    missing('UPSTREAM_CLIENT_SECRET', 'for client-secret');
  }
  if (c.UPSTREAM_AUTH === 'smart-backend' && !c.UPSTREAM_PRIVATE_KEY_FILE) {
    missing('UPSTREAM_PRIVATE_KEY_FILE', 'for smart-backend');
  }
}

interface FeatureSettings {
  JOB_SCHEDULES?: Record<string, string> | undefined;
  SUBSCRIPTION_SECRET?: string | undefined;
  SUBSCRIPTION_TOPIC?: string | undefined;
}

/** What the enabled upstream features need the EHR to grant (a job turned off needs nothing). */
export function upstreamScopeNeeds(c: FeatureSettings): ScopeNeeds {
  const on = (job: string) => c.JOB_SCHEDULES?.[job] !== 'off';
  return {
    // id-only notifications read their focus resources from the EHR, as the pull does.
    pull: on('upstream-pull') || on('upstream-backfill') || c.SUBSCRIPTION_SECRET !== undefined,
    writeBack: on('outbox-delivery'),
    subscriptionSetup:
      c.SUBSCRIPTION_TOPIC !== undefined && c.SUBSCRIPTION_SECRET !== undefined && on('subscription-setup'),
  };
}
