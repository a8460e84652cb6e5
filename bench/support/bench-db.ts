/**
 * The store a bench runs on, as `npm start` has it: PGlite in a data folder on disk (not the
 * in-memory PGlite the tests use, whose files live in this process's memory and grow it with the
 * store), or a fresh schema on the PostgreSQL server when DATABASE_URL is set.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../src/store/open-db.ts';
import { openTestDb, type TestDb } from '../../test/support/test-db.ts';

export interface BenchDb extends TestDb {
  /** Bytes of the PGlite data folder (undefined on PostgreSQL). */
  storeBytes(): number | undefined;
  /** Bytes of its WAL (`pg_wal`), part of storeBytes. */
  walBytes(): number | undefined;
  /** The PGlite data folder (undefined on PostgreSQL). */
  dataDir?: string;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}

export async function openBenchDb(): Promise<BenchDb> {
  if (process.env.DATABASE_URL)
    return { ...(await openTestDb()), storeBytes: () => undefined, walBytes: () => undefined };
  const dataDir = mkdtempSync(join(tmpdir(), 'khe-bench-store-'));
  const db = await openDb({ dataDir });
  return {
    db,
    schema: undefined,
    dataDir,
    storeBytes: () => folderBytes(join(dataDir, 'pglite')),
    walBytes: () => folderBytes(join(dataDir, 'pglite', 'pg_wal')),
    async drop() {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
