/**
 * A second service instance on a test service's store, as a second process would run it: on
 * PostgreSQL its own pool on the same schema; PGlite has one owner per data directory, so there the
 * two instances share the one handle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningService, startService } from '../../src/app/start.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { openDb } from '../../src/store/open-db.ts';
import type { TestService } from './test-service.ts';

export interface SecondInstance {
  service: RunningService;
  /** Its data folder (its dev clients). */
  dataDir: string;
  stop(): Promise<void>;
}

export async function startSecondInstance(a: TestService, env: Record<string, string> = {}): Promise<SecondInstance> {
  const db =
    a.testDb.schema && process.env.DATABASE_URL
      ? await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir: '', schema: a.testDb.schema, poolSize: 4 })
      : a.testDb.db;
  const dataDir = mkdtempSync(join(tmpdir(), 'khe-test-b-'));
  const service = await startService(
    { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env },
    { db, logger: createLogger('silent') },
  );
  return {
    service,
    dataDir,
    async stop() {
      await service.stop();
      if (db !== a.testDb.db) await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
