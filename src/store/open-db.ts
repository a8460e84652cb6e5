/**
 * Opens the store: PostgreSQL when DATABASE_URL is set, otherwise embedded PGlite in DATA_DIR
 * (locked to this process). Both go through node-postgres, so the rest of the code has one path.
 */
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.ts';
import { type Db, PGliteDb, PoolDb } from './db.ts';
import { migrate } from './migrate.ts';

export interface OpenDbOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  /** PostgreSQL schema to use (tests isolate each run in its own schema). */
  schema?: string | undefined;
  poolSize?: number | undefined;
  /** Existing PGlite data dump to start from (tests: skips the multi-second initdb). */
  pgliteLoadDataDir?: Blob | undefined;
  /** PGlite in memory (tests only: nothing survives the process). */
  pgliteInMemory?: boolean | undefined;
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  let db: Db;
  if (options.databaseUrl) {
    const max = options.poolSize ?? 16;
    const openPool = (more: string, size: number): pg.Pool => {
      const pool = new pg.Pool({
        connectionString: options.databaseUrl,
        max: size,
        // No JIT: it compiles for plans the planner costs high (a count over a million rows) and
        // adds tens of milliseconds to statements that run in a few.
        options: `-c jit=off${options.schema ? ` -c search_path=${options.schema}` : ''}${more}`,
      });
      pool.on('error', () => {
        // An idle client losing its connection must not crash the process; the next query reconnects.
      });
      return pool;
    };
    const pool = openPool('', max);
    if (options.schema) {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)}`);
    }
    // Pools with settings of their own (Db.withSettings) serve single reads: half as many connections.
    db = new PoolDb(pool, (more) => openPool(more, Math.max(2, Math.ceil(max / 2))));
  } else {
    const lock = options.pgliteInMemory ? undefined : lockDataDir(options.dataDir);
    try {
      const pglite = await PGlite.create({
        ...(options.pgliteInMemory ? {} : { dataDir: join(options.dataDir, 'pglite') }),
        ...(options.pgliteLoadDataDir ? { loadDataDir: options.pgliteLoadDataDir } : {}),
      });
      db = new PGliteDb(pglite, async () => {
        lock?.release();
      });
    } catch (err) {
      lock?.release();
      throw err;
    }
  }
  await migrate(db);
  return db;
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
}
