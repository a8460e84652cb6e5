/**
 * What PostgreSQL's checkpointer does, for the embedded store. PGlite runs PostgreSQL in single-user
 * mode, where nothing checkpoints until shutdown (the checkpoint a full WAL requests is asked of a
 * checkpointer process, and single-user mode has none): its WAL then grows without bound (5.1 GB
 * of `pg_wal` after feeding 10,000 subjects' results, docs/performance.md) and a restart after a
 * crash replays all of it. This job checkpoints on the server's own triggers: when the WAL written
 * since the last checkpoint reaches half of `max_wal_size` (where a server with the default
 * completion target starts one), or when `checkpoint_timeout` has passed with WAL written. A
 * checkpoint holds PGlite's one connection while it writes the dirty buffers (at most
 * `shared_buffers`; about 0.1 s measured for 380 MB of WAL), during which requests wait.
 */
import type { Db } from '../store/db.ts';
import type { JobDefinition } from './job-runner.ts';

export const EMBEDDED_CHECKPOINT_CRON = '*/30 * * * * *';

export interface CheckpointState {
  /** WAL bytes written since the last checkpoint's redo point. */
  walSince: number;
  /** Seconds since the last checkpoint. */
  age: number;
  maxWalBytes: number;
  timeoutSeconds: number;
}

/** PostgreSQL's checkpoint triggers (the checkpointer's, with checkpoint_completion_target 0.9 rounded to a half). */
export function checkpointDue(s: CheckpointState): boolean {
  if (s.walSince <= 0) return false;
  return s.walSince >= s.maxWalBytes / 2 || s.age >= s.timeoutSeconds;
}

export async function readCheckpointState(db: Db): Promise<CheckpointState> {
  const r = await db.query<{ wal_since: string; age: string; max_wal: string; timeout: string }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), c.redo_lsn)::bigint::text AS wal_since,
            extract(epoch FROM now() - c.checkpoint_time)::bigint::text AS age,
            (SELECT setting::bigint * 1048576 FROM pg_settings WHERE name = 'max_wal_size')::text AS max_wal,
            (SELECT setting FROM pg_settings WHERE name = 'checkpoint_timeout') AS timeout
       FROM pg_control_checkpoint() c`,
  );
  const row = r.rows[0];
  if (!row) throw new Error('pg_control_checkpoint() returned no row');
  return {
    walSince: Number(row.wal_since),
    age: Number(row.age),
    maxWalBytes: Number(row.max_wal),
    timeoutSeconds: Number(row.timeout),
  };
}

export function embeddedCheckpointJob(db: Db): JobDefinition {
  return {
    name: 'embedded-checkpoint',
    cron: EMBEDDED_CHECKPOINT_CRON,
    // One process holds a PGlite data folder (its lock file): no lease row per run to coordinate.
    exclusive: false,
    run: async () => {
      if (checkpointDue(await readCheckpointState(db))) await db.exec('CHECKPOINT');
    },
  };
}
