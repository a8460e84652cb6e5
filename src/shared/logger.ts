/**
 * Structured JSON logs, one object per line on stdout, for log shippers to index: pino (the Node
 * standard for JSON logs) behind the small interface the rest of the code calls, with tokens,
 * secrets and credentials redacted wherever a caller puts them in the fields.
 */
import { pino } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const SECRET_KEYS = [
  'authorization',
  'token',
  'access_token',
  'accessToken',
  'refresh_token',
  'id_token',
  'client_secret',
  'clientSecret',
  'client_assertion',
  'secret',
  'secretHash',
  'password',
  'privateKey',
  'DATABASE_URL',
  'databaseUrl',
];

/** Each secret key at the top of the fields, one level down (`req.authorization`) and in headers. */
export const REDACTED_PATHS: readonly string[] = SECRET_KEYS.flatMap((k) => [
  k,
  `*.${k}`,
  `*.headers.${k}`,
  `headers.${k}`,
]);

function serializeError(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const e = value as Error & { code?: string };
  return { name: e.name, message: e.message, code: e.code, stack: e.stack };
}

function wrap(p: pino.Logger): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    child: (fields) => wrap(p.child(fields)),
  };
}

export function createLogger(
  level: LogLevel,
  base: Record<string, unknown> = {},
  write?: (line: string) => void,
): Logger {
  const p = pino(
    {
      level,
      base,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    },
    // Synchronous on stdout, as before: a line logged just before process.exit is not lost.
    write ? { write } : pino.destination({ dest: 1, sync: true }),
  );
  return wrap(p);
}
