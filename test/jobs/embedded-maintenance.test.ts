// Fixtures WRITTEN FOR THE TESTS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platelets } from '../../bench/fixtures/observation.ts';
import {
  AUTOVACUUM_DEFAULTS,
  type AutovacuumSettings,
  embeddedMaintenanceJob,
  maintainDueTables,
  maintenanceDue,
  maintenanceStatements,
  readAutovacuumSettings,
  readTableActivity,
  SLOW_STATEMENT_MS,
  type TableActivity,
} from '../../src/jobs/embedded-maintenance.ts';
import type { Logger } from '../../src/shared/logger.ts';
import { openDb } from '../../src/store/open-db.ts';
import { aroundExec, readThenAudit } from '../support/db-hooks.ts';
import { enroll } from '../support/enroll.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

// PostgreSQL's defaults (and PGlite's): the limits below are worked out from them by hand.
const defaults = AUTOVACUUM_DEFAULTS;
const quietTable: TableActivity = {
  table: 't',
  reltuples: 10_000,
  relpages: 100,
  pagesNow: 100,
  deadTuples: 0,
  insertsSinceVacuum: 0,
  modsSinceAnalyze: 0,
  xidAge: 1000,
};

describe('which tables autovacuum would process', () => {
  it.each<[string, Partial<TableActivity>, Partial<AutovacuumSettings>, { vacuum: boolean; analyze: boolean }]>([
    ['nothing changed', {}, {}, { vacuum: false, analyze: false }],
    // 50 + 0.2 × 10,000 = 2,050 dead rows
    ['dead rows at the limit', { deadTuples: 2050 }, {}, { vacuum: false, analyze: false }],
    ['dead rows over the limit', { deadTuples: 2051 }, {}, { vacuum: true, analyze: false }],
    [
      'the limit is capped by vacuum_max_threshold',
      { deadTuples: 1001 },
      { vacuumMaxThreshold: 1000 },
      { vacuum: true, analyze: false },
    ],
    // 1,000 + 0.2 × 10,000 = 3,000 inserts
    ['inserts at the limit', { insertsSinceVacuum: 3000 }, {}, { vacuum: false, analyze: false }],
    ['inserts over the limit', { insertsSinceVacuum: 3001 }, {}, { vacuum: true, analyze: false }],
    [
      'insert vacuums turned off (-1)',
      { insertsSinceVacuum: 1e9 },
      { insertThreshold: -1 },
      { vacuum: false, analyze: false },
    ],
    // 50 + 0.1 × 10,000 = 1,050 changed rows
    ['changes at the analyse limit', { modsSinceAnalyze: 1050 }, {}, { vacuum: false, analyze: false }],
    ['changes over the analyse limit', { modsSinceAnalyze: 1051 }, {}, { vacuum: false, analyze: true }],
    ['both', { deadTuples: 5000, modsSinceAnalyze: 5000 }, {}, { vacuum: true, analyze: true }],
    [
      'transaction ids older than autovacuum_freeze_max_age',
      { xidAge: 200_000_001 },
      {},
      { vacuum: true, analyze: false },
    ],
    [
      'never analysed, with a few rows',
      { reltuples: -1, relpages: 0, pagesNow: 1, modsSinceAnalyze: 3 },
      {},
      { vacuum: false, analyze: true },
    ],
    [
      'never analysed, with rows written before a restart (counters lost)',
      { reltuples: -1, relpages: 0, pagesNow: 1 },
      {},
      { vacuum: false, analyze: true },
    ],
    ['never analysed, empty', { reltuples: -1, relpages: 0, pagesNow: 0 }, {}, { vacuum: false, analyze: false }],
    // Counters lost in a restart: 100 pages at the last vacuum, 8 + 0.2 × 100 = 28 pages of growth.
    ['grown 28 pages since, counters lost', { pagesNow: 128 }, {}, { vacuum: false, analyze: false }],
    ['grown 29 pages since, counters lost', { pagesNow: 129 }, {}, { vacuum: true, analyze: true }],
    // An empty table: 50 dead rows, 1,000 inserts.
    [
      'a new table, 1,001 rows inserted',
      { reltuples: 0, insertsSinceVacuum: 1001, modsSinceAnalyze: 1001 },
      {},
      { vacuum: true, analyze: true },
    ],
  ])('%s', (_name, activity, settings, expected) => {
    expect(maintenanceDue({ ...quietTable, ...activity }, { ...defaults, ...settings })).toEqual(expected);
  });

  it('names one table per statement, vacuum and analyse apart, quoted', () => {
    expect(maintenanceStatements('sp_token', { vacuum: true, analyze: true })).toEqual([
      'VACUUM "sp_token"',
      'ANALYZE "sp_token"',
    ]);
    expect(maintenanceStatements('sp_token', { vacuum: true, analyze: false })).toEqual(['VACUUM "sp_token"']);
    expect(maintenanceStatements('sp_token', { vacuum: false, analyze: true })).toEqual(['ANALYZE "sp_token"']);
    expect(maintenanceStatements('a"b', { vacuum: false, analyze: true })).toEqual(['ANALYZE "a""b"']);
    expect(maintenanceStatements('t', { vacuum: false, analyze: false })).toEqual([]);
  });
});

describe(`embedded store maintenance (${testBackend()})`, () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('reads the server’s autovacuum settings', async () => {
    const settings = await readAutovacuumSettings(s.testDb.db);
    expect(settings.vacuumThreshold).toBe(50);
    expect(settings.analyzeScaleFactor).toBe(0.1);
    expect(settings.freezeMaxAge).toBeGreaterThan(100_000);
  });

  it('reads each table’s activity with SQL valid on PostgreSQL 15 (one code path)', async () => {
    const activity = await readTableActivity(s.testDb.db);
    const resources = activity.find((a) => a.table === 'resources');
    expect(resources).toBeDefined();
    expect(resources?.pagesNow).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(resources?.xidAge)).toBe(true);
  });

  it('runs on PGlite only (a PostgreSQL server has autovacuum), giving its planner statistics', async () => {
    expect(s.service.jobs.has('embedded-maintenance')).toBe(testBackend() === 'pglite');
    if (testBackend() !== 'pglite') return;
    await enroll(s, 'maint-p1', { start: '2021-03-01' });
    for (let i = 0; i < 20; i++) {
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: JSON.stringify(platelets(i, 'maint-p1')),
      });
      expect(r.status).toBe(201);
    }
    const db = s.testDb.db;
    const tuples = async (table: string): Promise<number> =>
      Number(
        (await db.query<{ n: number }>('SELECT reltuples AS n FROM pg_class WHERE relname = $1', [table])).rows[0]?.n,
      );
    // Never analysed: the planner would work from defaults.
    expect(await tuples('sp_token')).toBeLessThanOrEqual(0);
    await embeddedMaintenanceJob(db).run({ slot: new Date(), signal: new AbortController().signal });
    expect(await tuples('sp_token')).toBeGreaterThan(100);
    const stats = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stats WHERE tablename = 'sp_token' AND attname IN ('param', 'code', 'id')",
    );
    expect(Number(stats.rows[0]?.n)).toBe(3);
    // Tables that nothing touched are left alone.
    const untouched = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_user_tables WHERE relname = 'cds_feedback' AND last_analyze IS NULL AND last_vacuum IS NULL",
    );
    expect(Number(untouched.rows[0]?.n)).toBe(1);
    // Done: a second pass right after finds nothing due.
    expect((await maintainDueTables(db)).statements).toEqual([]);
  });
});

// A maintenance statement holds PGlite's one connection: one VACUUM (ANALYZE) of the whole store
// held every request 29 s at 10,000 subjects. Statement by statement, a request caught by one
// sends all its statements (its read, then its AuditEvent) before the next one.
describe.runIf(testBackend() === 'pglite')('maintenance gives way between tables (pglite)', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('vacuums and analyses each due table in statements of their own; a request caught by one runs before the next', async () => {
    for (const name of ['maint_a', 'maint_b', 'maint_c']) {
      await t.db.exec(`CREATE TABLE ${name} (id int PRIMARY KEY, v text)`);
      await t.db.exec(`INSERT INTO ${name} SELECT g, 'x' FROM generate_series(1, 3000) g`);
      await t.db.exec(`UPDATE ${name} SET v = 'y' WHERE id <= 2000`);
    }
    const events: string[] = [];
    let request: Promise<void> | undefined;
    const watched = aroundExec(t.db, async (text, run) => {
      const table = /^(?:VACUUM|ANALYZE).*"(maint_\w+)"$/.exec(text)?.[1];
      if (table) events.push(`${text.split(' ')[0]} ${table}`);
      await run();
      // A request arrives while the first table's statement holds the store.
      if (text === 'VACUUM "maint_a"') request = readThenAudit(t.db, events);
    });
    const run = await maintainDueTables(watched);
    await request;
    expect(events).toEqual([
      'VACUUM maint_a',
      'read',
      'audit',
      'ANALYZE maint_a',
      'VACUUM maint_b',
      'ANALYZE maint_b',
      'VACUUM maint_c',
      'ANALYZE maint_c',
    ]);
    const ours = run.statements.filter((x) => x.statement.includes('maint_'));
    expect(ours.map((x) => x.statement)).toEqual([
      'VACUUM "maint_a"',
      'ANALYZE "maint_a"',
      'VACUUM "maint_b"',
      'ANALYZE "maint_b"',
      'VACUUM "maint_c"',
      'ANALYZE "maint_c"',
    ]);
    const vacuumed = await t.db.query<{ relname: string; n_dead_tup: string }>(
      "SELECT relname, n_dead_tup::text FROM pg_stat_user_tables WHERE relname LIKE 'maint_%' AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL ORDER BY relname",
    );
    expect(vacuumed.rows).toEqual([
      { relname: 'maint_a', n_dead_tup: '0' },
      { relname: 'maint_b', n_dead_tup: '0' },
      { relname: 'maint_c', n_dead_tup: '0' },
    ]);
  });

  it('logs a run at debug, and at info only when a statement held the store a second or more', async () => {
    await t.db.exec('CREATE TABLE maint_log (id int PRIMARY KEY)');
    await t.db.exec('INSERT INTO maint_log SELECT generate_series(1, 2000)');
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const note =
      (level: string) =>
      (msg: string, fields?: Record<string, unknown>): void => {
        lines.push({ level, msg, ...(fields ? { fields } : {}) });
      };
    const log = { debug: note('debug'), info: note('info'), warn: note('warn'), error: note('error') };
    await embeddedMaintenanceJob(t.db, log as unknown as Logger).run({
      slot: new Date(),
      signal: new AbortController().signal,
    });
    expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual(['debug embedded store maintenance']);
    const logged = lines[0]?.fields?.statements as { statement: string; ms: number }[];
    expect(logged.map((x) => x.statement)).toEqual(
      expect.arrayContaining(['VACUUM "maint_log"', 'ANALYZE "maint_log"']),
    );
    expect(Math.max(...logged.map((x) => x.ms))).toBeLessThan(SLOW_STATEMENT_MS);

    // A statement that holds the store a second or more (here made slow): info.
    await t.db.exec('INSERT INTO maint_log SELECT generate_series(2001, 6000)');
    lines.length = 0;
    const slow = aroundExec(t.db, async (text, run) => {
      await run();
      if (text === 'VACUUM "maint_log"') await new Promise((done) => setTimeout(done, SLOW_STATEMENT_MS));
    });
    await embeddedMaintenanceJob(slow, log as unknown as Logger).run({
      slot: new Date(),
      signal: new AbortController().signal,
    });
    expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual(['info embedded store maintenance held the store']);
  });

  it('stops between statements when the service stops', async () => {
    for (const name of ['maint_d', 'maint_e']) {
      await t.db.exec(`CREATE TABLE ${name} (id int PRIMARY KEY)`);
      await t.db.exec(`INSERT INTO ${name} SELECT generate_series(1, 2000)`);
    }
    const stop = new AbortController();
    const watched = aroundExec(t.db, async (text, run) => {
      await run();
      if (/^(?:VACUUM|ANALYZE)/.test(text)) stop.abort();
    });
    const run = await maintainDueTables(watched, stop.signal);
    expect(run.stopped).toBe(true);
    expect(run.statements).toHaveLength(1);
  });

  // PGlite keeps no activity counters across a restart: what a table gained before it would never
  // count, and a store restarted every day would never be analysed again.
  it('maintains a table that grew before a restart, from its size', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'khe-maint-'));
    try {
      let db = await openDb({ dataDir });
      await db.exec('CREATE TABLE maint_grown (id int PRIMARY KEY, v text)');
      await db.exec("INSERT INTO maint_grown SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g");
      await maintainDueTables(db);
      // More than 20 % and 8 pages more, then a restart.
      await db.exec("INSERT INTO maint_grown SELECT g, repeat('x', 100) FROM generate_series(2001, 3000) g");
      await db.close();
      db = await openDb({ dataDir });
      try {
        const counters = await db.query<{ n: string }>(
          "SELECT n_ins_since_vacuum::text AS n FROM pg_stat_user_tables WHERE relname = 'maint_grown'",
        );
        expect(counters.rows[0]?.n).toBe('0');
        const run = await maintainDueTables(db);
        expect(run.statements.map((x) => x.statement)).toEqual(
          expect.arrayContaining(['VACUUM "maint_grown"', 'ANALYZE "maint_grown"']),
        );
        const tuples = await db.query<{ n: number }>(
          "SELECT reltuples::int AS n FROM pg_class WHERE relname = 'maint_grown'",
        );
        expect(tuples.rows[0]?.n).toBe(3000);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
