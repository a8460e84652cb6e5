/**
 * Every test file gets its own store: a fresh schema on the PostgreSQL server when DATABASE_URL is
 * set (so parallel files and CI runs never collide), otherwise an in-memory PGlite started from a
 * dump of an empty cluster (a cold PGlite initdb takes seconds; loading the dump well under one).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Db } from '../../src/store/db.ts';
import { openDb, quoteIdent } from '../../src/store/open-db.ts';

const DUMP = join(tmpdir(), 'khe-adapter-pglite-empty-0.5.tar.gz');

async function emptyClusterDump(): Promise<Blob> {
  if (!existsSync(DUMP)) {
    const fresh = await PGlite.create();
    const blob = await fresh.dumpDataDir('gzip');
    await fresh.close();
    const partial = `${DUMP}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(partial, Buffer.from(await blob.arrayBuffer()));
    await rename(partial, DUMP);
  }
  return new Blob([await readFile(DUMP)]);
}

export interface TestDb {
  db: Db;
  /** The schema (PostgreSQL) or undefined (PGlite); for opening a second instance on the same data. */
  schema: string | undefined;
  drop(): Promise<void>;
}

export function testBackend(): 'postgresql' | 'pglite' {
  return process.env.DATABASE_URL ? 'postgresql' : 'pglite';
}

export async function openTestDb(): Promise<TestDb> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    const db = await openDb({ databaseUrl, dataDir: '', schema, poolSize: 8 });
    return {
      db,
      schema,
      async drop() {
        await db.close();
        const admin = new pg.Client({ connectionString: databaseUrl });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
        await admin.end();
      },
    };
  }
  const db = await openDb({ dataDir: '', pgliteInMemory: true, pgliteLoadDataDir: await emptyClusterDump() });
  return { db, schema: undefined, drop: () => db.close() };
}
