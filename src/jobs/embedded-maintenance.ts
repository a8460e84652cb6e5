/**
 * What autovacuum does on a PostgreSQL server, for the embedded store: PGlite runs PostgreSQL in
 * single-user mode, without autovacuum, so its tables would never get planner statistics (every
 * query planned from defaults: a search index ANDed with a scan of every row of a type, say) and
 * the space of superseded rows (outcome summaries, outbox rows) would never be reused.
 *
 * A maintenance statement holds PGlite's one connection while it runs, and every request waits for
 * it. One `VACUUM (ANALYZE)` of the whole store every 15 minutes held it 29 s at 10,000 subjects
 * (issue 20's traced bench). So, like autovacuum: every minute, only the tables whose activity
 * since their last vacuum or analyse crosses autovacuum's thresholds (read from the server's own
 * settings), one table per statement and vacuum apart from analyse, and between two statements the
 * requests that waited go first.
 */
import type { Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import type { JobDefinition } from './job-runner.ts';

export const EMBEDDED_MAINTENANCE_CRON = '0 * * * * *';
/** A maintenance statement this long is logged at info (requests waited for it). */
export const SLOW_STATEMENT_MS = 1000;

/** One table's activity, from pg_stat_user_tables and pg_class. */
export interface TableActivity {
  table: string;
  /** Planner's estimate of live rows; -1 when never vacuumed or analysed. */
  reltuples: number;
  /** Pages at the last vacuum or analyse. */
  relpages: number;
  /** Pages now. */
  pagesNow: number;
  deadTuples: number;
  insertsSinceVacuum: number;
  modsSinceAnalyze: number;
  /** Transactions since the table (or its TOAST table) was last frozen. */
  xidAge: number;
}

/** The server's autovacuum settings (pg_settings). */
export interface AutovacuumSettings {
  vacuumThreshold: number;
  vacuumScaleFactor: number;
  vacuumMaxThreshold: number;
  insertThreshold: number;
  insertScaleFactor: number;
  analyzeThreshold: number;
  analyzeScaleFactor: number;
  freezeMaxAge: number;
}

/** Pages a table may grow by, over its scale factor, before it is maintained for growth alone. */
export const GROWN_PAGES = 8;

export interface MaintenanceDue {
  vacuum: boolean;
  analyze: boolean;
}

/**
 * autovacuum's per-table decision (PostgreSQL 18 documentation, 24.1.6 "The Autovacuum Daemon";
 * relation_needs_vacanalyze in autovacuum.c): vacuum for dead rows, for inserts or for
 * transaction-id age; analyse for rows changed since the last analyse. The insert threshold is
 * 17's (18 scales it by the unfrozen share: relallfrozen, not in 15). PGlite keeps no activity
 * counters across a restart (a server loses them only in a crash), so, unlike autovacuum, a table
 * also counts as changed when it has grown by more than the insert scale factor of its pages (and
 * GROWN_PAGES) since its last vacuum or analyse, and a table never analysed once it has rows.
 */
export function maintenanceDue(t: TableActivity, s: AutovacuumSettings): MaintenanceDue {
  const tuples = Math.max(t.reltuples, 0);
  const deadLimit = Math.min(s.vacuumThreshold + s.vacuumScaleFactor * tuples, s.vacuumMaxThreshold);
  const insertLimit = s.insertThreshold + s.insertScaleFactor * tuples;
  const analyzeLimit = s.analyzeThreshold + s.analyzeScaleFactor * tuples;
  const vacuum =
    t.xidAge > s.freezeMaxAge ||
    t.deadTuples > deadLimit ||
    (s.insertThreshold >= 0 && t.insertsSinceVacuum > insertLimit);
  const grown = t.pagesNow - t.relpages > GROWN_PAGES + s.insertScaleFactor * t.relpages;
  const analyze =
    grown || (t.reltuples < 0 ? t.modsSinceAnalyze > 0 || t.pagesNow > 0 : t.modsSinceAnalyze > analyzeLimit);
  return { vacuum: vacuum || grown, analyze };
}

/**
 * The statements for one table. Vacuum and analyse are two statements, not `VACUUM (ANALYZE)`, so
 * that requests go between them: at 10,000 subjects, vacuuming the resources table's last 78,000
 * pages took 2.0 s and analysing it 1.1 s (docs/performance.md).
 */
export function maintenanceStatements(table: string, due: MaintenanceDue): string[] {
  const name = `"${table.replaceAll('"', '""')}"`;
  return [...(due.vacuum ? [`VACUUM ${name}`] : []), ...(due.analyze ? [`ANALYZE ${name}`] : [])];
}

const SETTING_NAMES: Record<keyof AutovacuumSettings, string> = {
  vacuumThreshold: 'autovacuum_vacuum_threshold',
  vacuumScaleFactor: 'autovacuum_vacuum_scale_factor',
  vacuumMaxThreshold: 'autovacuum_vacuum_max_threshold',
  insertThreshold: 'autovacuum_vacuum_insert_threshold',
  insertScaleFactor: 'autovacuum_vacuum_insert_scale_factor',
  analyzeThreshold: 'autovacuum_analyze_threshold',
  analyzeScaleFactor: 'autovacuum_analyze_scale_factor',
  freezeMaxAge: 'autovacuum_freeze_max_age',
};

/** PostgreSQL's defaults, for a setting the server does not have (vacuum_max_threshold is new in 18). */
export const AUTOVACUUM_DEFAULTS: AutovacuumSettings = {
  vacuumThreshold: 50,
  vacuumScaleFactor: 0.2,
  vacuumMaxThreshold: 100_000_000,
  insertThreshold: 1000,
  insertScaleFactor: 0.2,
  analyzeThreshold: 50,
  analyzeScaleFactor: 0.1,
  freezeMaxAge: 200_000_000,
};

export async function readAutovacuumSettings(db: Db): Promise<AutovacuumSettings> {
  const r = await db.query<{ name: string; setting: string }>(
    'SELECT name, setting FROM pg_settings WHERE name = ANY($1)',
    [Object.values(SETTING_NAMES)],
  );
  const byName = new Map(r.rows.map((row) => [row.name, Number(row.setting)]));
  const settings = { ...AUTOVACUUM_DEFAULTS };
  for (const [key, name] of Object.entries(SETTING_NAMES) as [keyof AutovacuumSettings, string][]) {
    const value = byName.get(name);
    if (value !== undefined && Number.isFinite(value)) settings[key] = value;
  }
  return settings;
}

export async function readTableActivity(db: Db): Promise<TableActivity[]> {
  // A backend sends its activity counters at most once a second; PGlite's one backend is every
  // session, so this makes the counters of the transactions just committed visible too.
  await db.exec('SELECT pg_stat_force_next_flush()');
  const r = await db.query<{
    table: string;
    reltuples: number;
    relpages: number;
    pages_now: string;
    dead: string;
    inserts: string;
    mods: string;
    xid_age: number;
  }>(
    `SELECT s.relname AS "table", c.reltuples::float8 AS reltuples, c.relpages AS relpages,
            (pg_relation_size(c.oid) / current_setting('block_size')::int)::text AS pages_now,
            s.n_dead_tup::text AS dead,
            s.n_ins_since_vacuum::text AS inserts, s.n_mod_since_analyze::text AS mods,
            greatest(age(c.relfrozenxid), coalesce(age(t.relfrozenxid), 0)) AS xid_age
       FROM pg_stat_user_tables s
       JOIN pg_class c ON c.oid = s.relid
       LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
      WHERE s.schemaname = current_schema() AND c.relkind = 'r'
      ORDER BY s.relname`,
  );
  return r.rows.map((row) => ({
    table: row.table,
    reltuples: Number(row.reltuples),
    relpages: Number(row.relpages),
    pagesNow: Number(row.pages_now),
    deadTuples: Number(row.dead),
    insertsSinceVacuum: Number(row.inserts),
    modsSinceAnalyze: Number(row.mods),
    xidAge: Number(row.xid_age),
  }));
}

export interface MaintenanceRun {
  /** Each statement run, with how long it held the store. */
  statements: { statement: string; ms: number }[];
  /** True when the service stopped before every due table was done. */
  stopped: boolean;
}

/** One pass: every due table, one statement at a time, requests first between two of them. */
export async function maintainDueTables(db: Db, signal?: AbortSignal): Promise<MaintenanceRun> {
  const settings = await readAutovacuumSettings(db);
  const statements: MaintenanceRun['statements'] = [];
  const due = (await readTableActivity(db)).flatMap((a) => maintenanceStatements(a.table, maintenanceDue(a, settings)));
  for (const statement of due) {
    if (signal?.aborted) return { statements, stopped: true };
    // What arrived during the last statement is answered before the next one takes the store.
    if (statements.length > 0) await db.whenQuiet?.(5, 50);
    const t0 = performance.now();
    await db.exec(statement);
    statements.push({ statement, ms: Math.round(performance.now() - t0) });
  }
  return { statements, stopped: false };
}

export function embeddedMaintenanceJob(db: Db, log?: Logger): JobDefinition {
  return {
    name: 'embedded-maintenance',
    cron: EMBEDDED_MAINTENANCE_CRON,
    // One process holds a PGlite data folder (its lock file): no lease row per run to coordinate.
    exclusive: false,
    run: async ({ signal }) => {
      const run = await maintainDueTables(db, signal);
      if (run.statements.length === 0) return;
      // Every minute of activity has some table to maintain: only a statement that held the
      // store (and so every request) for a second or more is worth an operator's attention.
      const held = Math.max(...run.statements.map((x) => x.ms));
      const fields = { statements: run.statements, stopped: run.stopped };
      if (held >= SLOW_STATEMENT_MS) log?.info('embedded store maintenance held the store', fields);
      else log?.debug('embedded store maintenance', fields);
    },
  };
}
