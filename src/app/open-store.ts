/**
 * Opens the configured store at start-up. A DATABASE_URL that cannot be reached or logged into is a
 * setting like any other: it stops the service with one line naming it (password hidden), not a
 * stack trace.
 */

import { appError } from '../shared/app-error.ts';
import type { Db } from '../store/db.ts';
import { type OpenDbOptions, openDb } from '../store/open-db.ts';

/** Connection classes: network (Node), 08 connection exception, 28 authorization, 3D catalog (no such database). */
function isConnectionError(code: unknown): boolean {
  return (
    typeof code === 'string' &&
    (/^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)$/.test(code) ||
      /^(08|28|3D)[0-9A-Z]{3}$/.test(code))
  );
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export async function openStore(options: OpenDbOptions): Promise<Db> {
  try {
    return await openDb(options);
  } catch (err) {
    const e = err as { code?: unknown; message?: string };
    if (!options.databaseUrl || !isConnectionError(e.code)) throw err;
    const reason = String(e.message || e.code).split('\n')[0];
    throw appError('CONFIG_INVALID', `DATABASE_URL: cannot open ${redactUrl(options.databaseUrl)}: ${reason}`, {
      cause: err,
    });
  }
}
