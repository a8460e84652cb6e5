/** Scheduled-job runs: the per-slot lease row that elects one instance, and the state admins read. */
import type { Queryable } from './db.ts';

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** True when this instance inserted the slot's row first and so must run it. */
export async function claimJobRun(q: Queryable, job: string, slot: Date, instanceId: string): Promise<boolean> {
  const r = await q.query<{ job_name: string }>(
    `INSERT INTO job_runs (job_name, slot, instance_id) VALUES ($1, $2, $3)
     ON CONFLICT (job_name, slot) DO NOTHING RETURNING job_name`,
    [job, slot.toISOString(), instanceId],
  );
  return r.rows.length === 1;
}

export async function finishJobRun(q: Queryable, job: string, slot: Date, error: string | undefined): Promise<void> {
  await q.query(`UPDATE job_runs SET finished_at = now(), status = $3, error = $4 WHERE job_name = $1 AND slot = $2`, [
    job,
    slot.toISOString(),
    error === undefined ? 'succeeded' : 'failed',
    error ?? null,
  ]);
}

export interface JobRunRow {
  job: string;
  slot: string;
  instanceId: string;
  startedAt: string;
  finishedAt: string | null;
  status: 'running' | 'succeeded' | 'failed';
  error: string | null;
}

interface Row {
  job: string;
  slot: string;
  instance_id: string;
  started_at: string;
  finished_at: string | null;
  status: JobRunRow['status'];
  error: string | null;
}

const COLUMNS = `job_name AS job, to_char(slot AT TIME ZONE 'UTC', ${ISO}) AS slot, instance_id,
  to_char(started_at AT TIME ZONE 'UTC', ${ISO}) AS started_at,
  to_char(finished_at AT TIME ZONE 'UTC', ${ISO}) AS finished_at, status, error`;

const toRun = (r: Row): JobRunRow => ({
  job: r.job,
  slot: r.slot,
  instanceId: r.instance_id,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  status: r.status,
  error: r.error,
});

/** The latest run and the latest failed run of each job, across all instances. */
export async function latestJobRuns(q: Queryable): Promise<{ last: JobRunRow[]; lastFailed: JobRunRow[] }> {
  const last = await q.query<Row>(
    `SELECT DISTINCT ON (job_name) ${COLUMNS} FROM job_runs ORDER BY job_name, slot DESC`,
  );
  const failed = await q.query<Row>(
    `SELECT DISTINCT ON (job_name) ${COLUMNS} FROM job_runs WHERE status = 'failed' ORDER BY job_name, slot DESC`,
  );
  return { last: last.rows.map(toRun), lastFailed: failed.rows.map(toRun) };
}

/** Every run of one job, newest first (tests and the admin detail view). */
export async function listJobRuns(q: Queryable, job: string, limit = 100): Promise<JobRunRow[]> {
  const r = await q.query<Row>(`SELECT ${COLUMNS} FROM job_runs WHERE job_name = $1 ORDER BY slot DESC LIMIT $2`, [
    job,
    limit,
  ]);
  return r.rows.map(toRun);
}

/** Keeps the history bounded; slots older than the cutoff are never claimed again anyway. */
export async function pruneJobRuns(q: Queryable, olderThan: Date): Promise<void> {
  await q.query('DELETE FROM job_runs WHERE slot < $1', [olderThan.toISOString()]);
}
