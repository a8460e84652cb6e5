/**
 * PostgreSQL server statistics around a bench phase (PG_STATS=1 of outcomes-recompute.ts): the
 * checkpointer and background writer (pg_stat_bgwriter), WAL volume and full-page images
 * (pg_stat_wal), block reads and hits of the database and of the bench's own schema
 * (pg_stat_database, pg_statio_user_tables), and the size of the schema's tables and indexes. The
 * cluster-wide views count every session on the server: other work running at the same time shows
 * there too, the schema's block counts are the bench's alone.
 */
import pg from 'pg';

type Numbers = Record<string, number>;

export interface ServerStats {
  at: number;
  bgwriter: Numbers;
  wal: Numbers;
  database: Numbers;
  schemaIo: Numbers;
  /** Bytes per table or index of the schema, largest first. */
  sizes: Record<string, number>;
  settings: Record<string, string>;
}

function numbers(row: Record<string, unknown> | undefined): Numbers {
  const out: Numbers = {};
  for (const [k, v] of Object.entries(row ?? {})) if (v !== null && !Number.isNaN(Number(v))) out[k] = Number(v);
  return out;
}

export async function serverStats(databaseUrl: string, schema: string): Promise<ServerStats> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    // Counters are cached per transaction by default; a fresh snapshot each time.
    await c.query('SELECT pg_stat_clear_snapshot()');
    const bg = await c.query(
      `SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time, buffers_checkpoint, buffers_clean,
              buffers_backend, buffers_backend_fsync, buffers_alloc FROM pg_stat_bgwriter`,
    );
    const wal = await c.query(
      'SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync FROM pg_stat_wal',
    );
    const db = await c.query(
      `SELECT blks_read, blks_hit, tup_inserted, tup_updated, tup_deleted, temp_files, temp_bytes
         FROM pg_stat_database WHERE datname = current_database()`,
    );
    const io = await c.query(
      `SELECT sum(heap_blks_read) AS heap_blks_read, sum(heap_blks_hit) AS heap_blks_hit,
              sum(idx_blks_read) AS idx_blks_read, sum(idx_blks_hit) AS idx_blks_hit,
              sum(toast_blks_read) AS toast_blks_read, sum(toast_blks_hit) AS toast_blks_hit
         FROM pg_statio_user_tables WHERE schemaname = $1`,
      [schema],
    );
    const sizes = await c.query<{ name: string; bytes: string }>(
      `SELECT c.relname AS name, pg_relation_size(c.oid)::text AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 't')
        ORDER BY pg_relation_size(c.oid) DESC`,
      [schema],
    );
    const settings = await c.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
        WHERE name IN ('shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_compression', 'full_page_writes',
                       'synchronous_commit', 'work_mem', 'effective_cache_size')`,
    );
    return {
      at: Date.now(),
      bgwriter: numbers(bg.rows[0]),
      wal: numbers(wal.rows[0]),
      database: numbers(db.rows[0]),
      schemaIo: numbers(io.rows[0]),
      sizes: Object.fromEntries(sizes.rows.map((r) => [r.name, Number(r.bytes)])),
      settings: Object.fromEntries(settings.rows.map((r) => [r.name, `${r.setting}${r.unit ? ` ${r.unit}` : ''}`])),
    };
  } finally {
    await c.end();
  }
}

function diff(a: Numbers, b: Numbers): Numbers {
  const out: Numbers = {};
  for (const k of Object.keys(b)) out[k] = Math.round(((b[k] ?? 0) - (a[k] ?? 0)) * 10) / 10;
  return out;
}

const MB = 1048576;

/** What changed between two snapshots, in a form for the bench's JSON row. */
export function statsDelta(a: ServerStats, b: ServerStats, topSizes = 12): Record<string, unknown> {
  const sizes = Object.entries(b.sizes).slice(0, topSizes);
  const total = (s: Record<string, number>): number => Object.values(s).reduce((x, y) => x + y, 0);
  const wal = diff(a.wal, b.wal);
  return {
    seconds: Math.round((b.at - a.at) / 100) / 10,
    bgwriter: diff(a.bgwriter, b.bgwriter),
    wal: { ...wal, wal_mb: Math.round((wal.wal_bytes ?? 0) / MB) },
    database: diff(a.database, b.database),
    schemaIo: diff(a.schemaIo, b.schemaIo),
    schemaMbBefore: Math.round(total(a.sizes) / MB),
    schemaMbAfter: Math.round(total(b.sizes) / MB),
    largestMbAfter: Object.fromEntries(sizes.map(([k, v]) => [k, Math.round(v / MB)])),
    settings: b.settings,
  };
}

/**
 * Subjects whose fingerprint is stored (recomputed) every `everyMs` while a phase runs, on stderr:
 * a rate that falls as the tables grow is the superlinear part.
 */
export function progressSampler(databaseUrl: string, schema: string, everyMs = 15_000): () => Promise<string[]> {
  const lines: string[] = [];
  const c = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  const t0 = performance.now();
  let last = { t: 0, n: 0 };
  let busy: Promise<unknown> = c.connect();
  const timer = setInterval(() => {
    busy = busy.then(async () => {
      const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM outcome_fingerprints');
      const t = (performance.now() - t0) / 1000;
      const n = r.rows[0]?.n ?? 0;
      const line = `${t.toFixed(0)} s: ${n} subjects done, ${((n - last.n) / (t - last.t)).toFixed(1)} subjects/s since the last sample`;
      last = { t, n };
      lines.push(line);
      console.error(`   progress ${line}`);
    });
  }, everyMs);
  return async () => {
    clearInterval(timer);
    await busy;
    await c.end();
    return lines;
  };
}
