/**
 * Configuration from the environment, optionally overlaid on a JSON file (CONFIG_FILE), validated
 * with zod at start-up: a bad setting stops the service with one line that names it.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { AppError } from './app-error.ts';

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
  PUBLIC_BASE_URL: z.url().optional(),
  NODE_ENV: z.string().default('development'),
  CLIENTS_FILE: z.string().min(1).optional(),
  STUDIES_DIR: z.string().min(1).default('mappings/studies'),
  PROFILES_DIR: z.string().min(1).default('profiles'),
  CONCEPTMAPS_DIR: z.string().min(1).default('mappings/conceptmaps'),
  UNIT_ALIASES_FILE: z.string().min(1).default('mappings/unit-aliases.json'),
  ACCESS_TOKEN_LIFETIME_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60_000),
  TOKEN_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  IDP_ISSUER: z.string().min(1).optional(),
  IDP_JWKS_URL: z.url().optional(),
  IDP_SCOPE_CLAIM: z.string().min(1).default('scope'),
  IDP_CLIENT_ID_CLAIM: z.string().min(1).default('client_id'),
  IDP_ROLE_CLAIM: z.string().min(1).optional(),
});

export type RawConfig = z.infer<typeof ConfigSchema>;

export interface Config extends RawConfig {
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
      throw new AppError('CONFIG_INVALID', `CONFIG_FILE ${env.CONFIG_FILE}: ${(err as Error).message}`);
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
    throw new AppError(
      'CONFIG_INVALID',
      `configuration error: ${key}: ${issue?.message} (got ${JSON.stringify(input[key])})`,
    );
  }
  const c = parsed.data;
  const host = c.HOST === '0.0.0.0' || c.HOST === '::' ? '127.0.0.1' : c.HOST;
  return {
    ...c,
    publicBaseUrl: (c.PUBLIC_BASE_URL ?? `http://${host}:${c.PORT}`).replace(/\/$/, ''),
    production: c.NODE_ENV === 'production',
  };
}
