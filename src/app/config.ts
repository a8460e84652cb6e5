/**
 * Configuration from the environment, optionally overlaid on a JSON file (CONFIG_FILE), validated
 * with zod at start-up: a bad setting stops the service with one line that names it.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as z from 'zod';
import { parseSmartEhrs, parseTrialUsers } from '../auth/ehr-config.ts';
import { parseCdsClients } from '../cds/cds-config.ts';
import { appError } from '../shared/app-error.ts';
import { neededScopes } from '../writeback/upstream-scopes.ts';
import { checkUpstreamConfig, UpstreamConfigShape, upstreamScopeNeeds } from './upstream-config.ts';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

const ConfigSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// or postgresql:// URL' })
    .optional(),
  /** PostgreSQL schema for all tables (one database shared by several deployments, or tests). */
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, { error: 'must be a lower-case SQL identifier' })
    .optional(),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(16),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, { error: 'must look like 512kb or 20mb' })
    .default('20mb'),
  MAX_BUNDLE_ENTRIES: z.coerce.number().int().min(1).max(100_000).default(10_000),
  /** Bounds on one search (GET or POST _search): parameters, and comma-separated values over all of them. */
  SEARCH_MAX_PARAMETERS: z.coerce.number().int().min(1).max(10_000).default(100),
  SEARCH_MAX_VALUES: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** Time budget of one search: statement_timeout on PostgreSQL; on PGlite no further query starts after it. */
  SEARCH_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(10_000),
  /** JSON request bodies nested deeper than this are a 400 (src/fhir/json-body.ts). */
  MAX_JSON_DEPTH: z.coerce.number().int().min(16).max(1_000).default(100),
  PUBLIC_BASE_URL: z.url().optional(),
  NODE_ENV: z.string().default('development'),
  CLIENTS_FILE: z.string().min(1).optional(),
  STUDIES_DIR: z.string().min(1).default('mappings/studies'),
  PROFILES_DIR: z.string().min(1).default('profiles'),
  CONCEPTMAPS_DIR: z.string().min(1).default('mappings/conceptmaps'),
  QUESTIONNAIRES_DIR: z.string().min(1).default('mappings/questionnaires'),
  UNIT_ALIASES_FILE: z.string().min(1).default('mappings/unit-aliases.json'),
  ACCESS_TOKEN_LIFETIME_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60_000),
  TOKEN_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /** Failed token requests allowed per client id (a guessed secret or a bad assertion), per minute. */
  TOKEN_FAILURES_PER_CLIENT_PER_MINUTE: z.coerce.number().int().min(1).default(20),
  /**
   * Proxies whose X-Forwarded-For is believed (comma-separated addresses, CIDRs, or loopback,
   * linklocal, uniquelocal); empty: none, the socket address is the client's.
   */
  TRUST_PROXY: z
    .string()
    .default('')
    .refine(
      (v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
          .every((s) => ['loopback', 'linklocal', 'uniquelocal'].includes(s) || isIP(s.split('/')[0] ?? '') !== 0),
      { error: 'must list IP addresses, CIDRs, loopback, linklocal or uniquelocal' },
    ),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  /** How often writes not retained are written as one summary AuditEvent per client. */
  AUDIT_SUMMARY_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** Recompute outcomes in the background as ingest marks subjects (off: only on admin request). */
  OUTCOMES_WORKER: z.enum(['on', 'off']).default('on'),
  OUTCOMES_IDLE_MS: z.coerce.number().int().min(10).default(1_000),
  /**
   * PGlite only: how long one recomputation batch may hold the embedded store (batches adapt to
   * it). Every request waits for the batch in progress, so this is about the longest a request
   * waits during a recomputation; shorter costs the recomputation more batches.
   */
  OUTCOMES_PGLITE_BATCH_MS: z.coerce.number().int().min(20).max(60_000).default(250),
  /** MLLP listener for HL7 v2 lab feeds (off when unset). */
  HL7_MLLP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Interface the MLLP listener binds to: loopback unless a lab feed must reach it directly. */
  HL7_MLLP_HOST: z.string().min(1).default('127.0.0.1'),
  /** Largest HL7 v2 message accepted over MLLP, in bytes (AR and close beyond it). */
  HL7_MLLP_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).max(1_073_741_824).default(4_194_304),
  HL7_MLLP_ALLOW_ADDRESSES: z.string().default('127.0.0.1,::1'),
  HL7_MLLP_ALLOW_FACILITIES: z.string().default(''),
  HL7_SYSTEMS_FILE: z.string().min(1).default('mappings/hl7v2/systems.json'),
  /** EHRs allowed to call the CDS services: JSON [{"iss": "...", "jwksUrl": "..."} or {"iss", "jwks": {keys}}]. */
  CDS_CLIENTS: z.string().optional(),
  /** Platelets (x10^9/L) below which the trial card is critical. */
  CDS_PLATELETS_CRITICAL_BELOW: z.coerce.number().positive().default(20),
  /** The trial page's client id at the EHR's authorization server (SMART launch). */
  SMART_CLIENT_ID: z.string().min(1).default('khe-trial-page'),
  /** Where the card's SMART link points (default: this adapter's /app/launch). */
  CDS_APP_URL: z.url().optional(),
  /** Browser origins (the EHR's web front end, the CDS Hooks sandbox) allowed to call /cds-services; `*` for any. */
  CDS_ALLOWED_ORIGINS: z.string().default(''),
  /** Days after which the last trough is called stale on the card and the page. */
  CDS_TROUGH_STALE_DAYS: z.coerce.number().int().min(1).default(35),
  /** Identifier system of the hospital's MRN: how an EHR's patient is matched to the enrolled child. */
  PATIENT_MRN_SYSTEM: z.string().min(1).optional(),
  /** EHRs that launch the trial page: JSON [{"fhirBase", "issuer", "clientId", "jwksUrl" or "introspection"}]. */
  SMART_EHRS: z.string().optional(),
  /** Trial roles of EHR users: JSON [{"fhirUser": "Practitioner/1", "trialRole": "clinician"}]. */
  TRIAL_USERS: z.string().optional(),
  /** Lifetime of the session the adapter gives the trial page after a launch. */
  APP_SESSION_MINUTES: z.coerce.number().int().min(1).max(60).default(15),
  IDP_ISSUER: z.string().min(1).optional(),
  IDP_JWKS_URL: z.url().optional(),
  IDP_SCOPE_CLAIM: z.string().min(1).default('scope'),
  IDP_CLIENT_ID_CLAIM: z.string().min(1).default('client_id'),
  IDP_ROLE_CLAIM: z.string().min(1).optional(),
  ...UpstreamConfigShape,
  /** Bulk Data $export (src/fhir/bulk, src/jobs/bulk-export-worker.ts). */
  BULK_EXPORT_TTL_HOURS: z.coerce.number().positive().default(24),
  BULK_EXPORT_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(1000),
  BULK_EXPORT_LEASE_SECONDS: z.coerce.number().int().min(1).default(30),
  BULK_EXPORT_MIN_POLL_MS: z.coerce.number().int().min(0).default(1000),
  BULK_EXPORT_THROTTLE_MS: z.coerce.number().int().min(0).default(0),
  BULK_EXPORT_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  BULK_EXPORT_WORKER: z.enum(['true', 'false']).default('true'),
  /** The audit trail's monthly partitions (src/jobs/audit-retention.ts). */
  AUDIT_RETENTION_MONTHS: z.coerce.number().int().min(1).max(1200).default(84),
  AUDIT_PARTITIONS_AHEAD: z.coerce.number().int().min(0).max(60).default(3),
});

export type RawConfig = z.infer<typeof ConfigSchema>;

export interface Config extends RawConfig {
  /** UPSTREAM_SCOPE, or the scopes what is enabled needs. */
  UPSTREAM_SCOPE: string;
  /** Where clients reach the service, without a trailing slash. */
  publicBaseUrl: string;
  production: boolean;
}

const KEYS = Object.keys(ConfigSchema.shape) as (keyof RawConfig)[];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let fileValues: Record<string, unknown> = {};
  if (env.CONFIG_FILE) {
    try {
      fileValues = JSON.parse(readFileSync(env.CONFIG_FILE, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw appError('CONFIG_INVALID', `CONFIG_FILE ${env.CONFIG_FILE}: ${(err as Error).message}`);
    }
  }
  const input: Record<string, unknown> = {};
  for (const key of KEYS) {
    const v = env[key] ?? fileValues[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? 'configuration');
    throw appError('CONFIG_INVALID', `${key}: ${issue?.message} (got ${JSON.stringify(input[key])})`);
  }
  const c = parsed.data;
  checkUpstreamConfig(c);
  try {
    parseCdsClients(c.CDS_CLIENTS);
  } catch (err) {
    const detail = err instanceof z.ZodError ? (err.issues[0]?.message ?? 'invalid') : (err as Error).message;
    throw appError('CONFIG_INVALID', `CDS_CLIENTS: ${detail}`);
  }
  for (const [key, parse] of [
    ['SMART_EHRS', parseSmartEhrs],
    ['TRIAL_USERS', parseTrialUsers],
  ] as const) {
    try {
      parse(c[key]);
    } catch (err) {
      const detail = err instanceof z.ZodError ? (err.issues[0]?.message ?? 'invalid') : (err as Error).message;
      throw appError('CONFIG_INVALID', `${key}: ${detail}`);
    }
  }
  const host = c.HOST === '0.0.0.0' || c.HOST === '::' ? '127.0.0.1' : c.HOST;
  return {
    ...c,
    // Unused (empty) while no upstream is configured.
    UPSTREAM_SCOPE: c.UPSTREAM_SCOPE ?? (c.UPSTREAM_FHIR_URL ? neededScopes(upstreamScopeNeeds(c)).join(' ') : ''),
    publicBaseUrl: (c.PUBLIC_BASE_URL ?? `http://${host}:${c.PORT}`).replace(/\/$/, ''),
    production: c.NODE_ENV === 'production',
  };
}
