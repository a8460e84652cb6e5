/**
 * Every test file gets its own store: a fresh schema on the PostgreSQL server when DATABASE_URL is
 * set (so parallel files and CI runs never collide), otherwise an in-memory PGlite started from a
 * dump of a migrated cluster (a cold PGlite initdb takes seconds, and applying every migration to
 * each store 1.3 s; loading the dump a fraction of that). openDb still runs the migrations, and
 * finds them applied.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { type Db, PGliteDb } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
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

/**
 * The same cluster with every migration applied, kept under a name made of PGlite's version and
 * the migrations' names and contents: a changed or added migration makes a new one.
 */
function migratedDumpPath(): string {
  const dir = join(import.meta.dirname, '../../src/store/migrations');
  const hash = createHash('sha1');
  hash.update(
    JSON.parse(readFileSync(join(import.meta.dirname, '../../node_modules/@electric-sql/pglite/package.json'), 'utf8'))
      .version,
  );
  for (const f of readdirSync(dir).sort()) hash.update(`\0${f}\0`).update(readFileSync(join(dir, f)));
  return join(tmpdir(), `khe-adapter-pglite-migrated-${hash.digest('hex').slice(0, 16)}.tar.gz`);
}

async function migratedClusterDump(): Promise<Blob> {
  const path = migratedDumpPath();
  if (!existsSync(path)) {
    const pglite = await PGlite.create({ loadDataDir: await emptyClusterDump() });
    await migrate(new PGliteDb(pglite, async () => undefined));
    const blob = await pglite.dumpDataDir('gzip');
    await pglite.close();
    const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(partial, Buffer.from(await blob.arrayBuffer()));
    await rename(partial, path);
  }
  return new Blob([await readFile(path)]);
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
  const db = await openDb({ dataDir: '', pgliteInMemory: true, pgliteLoadDataDir: await migratedClusterDump() });
  return { db, schema: undefined, drop: () => db.close() };
}
