/**
 * PGlite has no lock of its own: two processes on one data folder silently lose writes. We take an
 * exclusive lock file holding our pid; a lock left by a process that no longer exists (kill -9,
 * power loss) is taken over, a live holder stops start-up with a clear message.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { appError } from '../shared/app-error.ts';

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'adapter.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number; host?: string };
      } catch {
        // A half-written lock file means its writer died while writing it.
      }
      const sameHost = holder.host === undefined || holder.host === hostname();
      if (holder.pid !== undefined && sameHost && holder.pid !== process.pid && processAlive(holder.pid)) {
        throw appError(
          'STORE_DATA_DIR_LOCKED',
          `${dataDir} is in use by process ${holder.pid}; PGlite allows one process per folder (stop it, or use another DATA_DIR, or DATABASE_URL)`,
        );
      }
      if (!sameHost) {
        throw appError(
          'STORE_DATA_DIR_LOCKED',
          `${dataDir} is locked by host ${holder.host}; remove ${path} only if that host no longer uses it`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw appError('STORE_DATA_DIR_LOCKED', `${dataDir}: could not lock it`);
}
