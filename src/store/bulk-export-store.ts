/**
 * Durable $export jobs (migration 0030): kick-off, polling, leases, batch commits and file chunks.
 * Every batch commits its chunk together with the job's resume point and lease renewal, and only
 * while this worker still holds the lease, so a cancelled or taken-over job never gains lines.
 */
import type { SearchRequest } from '../shared/search-request.ts';
import { AUDIT_EVENT_TYPE, readAuditExportBatch } from './audit-store.ts';
import type { Db, Queryable } from './db.ts';
import { ParamList } from './search-conditions.ts';
import { whereClause } from './search-store.ts';

export interface ExportJob {
  jobId: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  requestUrl: string;
  clientId: string;
  role: string;
  spec: string;
  transactionTime: string;
  attempts: number;
  typeIndex: number;
  afterSeq: string;
  exported: number;
  error: string | null;
  expiresAt: string;
}

export interface ExportFile {
  fileNo: number;
  kind: 'output' | 'error';
  resourceType: string;
  count: number;
  bytes: number;
  chunks: number;
}

const ISO = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const JOB_COLUMNS = `job_id AS "jobId", status, request_url AS "requestUrl", client_id AS "clientId", role, spec,
  ${ISO('transaction_time')} AS "transactionTime", attempts, type_index AS "typeIndex", after_seq::text AS "afterSeq",
  exported::int AS exported, error, ${ISO('expires_at')} AS "expiresAt"`;

export interface NewJob {
  jobId: string;
  requestUrl: string;
  clientId: string;
  role: string;
  spec: string;
  transactionTime: string;
  ttlHours: number;
  /** OperationOutcome NDJSON for the error file (parameters ignored under lenient handling). */
  errorLines?: string | undefined;
}

export async function createJob(q: Queryable, job: NewJob): Promise<void> {
  await q.query(
    `INSERT INTO bulk_export_jobs (job_id, status, request_url, client_id, role, spec, transaction_time, expires_at)
     VALUES ($1, 'queued', $2, $3, $4, $5, $6, now() + make_interval(secs => $7::float8))`,
    [job.jobId, job.requestUrl, job.clientId, job.role, job.spec, job.transactionTime, job.ttlHours * 3600],
  );
  if (job.errorLines) {
    const lines = job.errorLines.split('\n').filter((l) => l.length > 0).length;
    await q.query(
      `INSERT INTO bulk_export_files (job_id, file_no, kind, resource_type, resource_count, bytes, chunks)
       VALUES ($1, 0, 'error', 'OperationOutcome', $2, $3, 1)`,
      [job.jobId, lines, Buffer.byteLength(job.errorLines)],
    );
    await q.query('INSERT INTO bulk_export_chunks (job_id, file_no, chunk_no, content) VALUES ($1, 0, 0, $2)', [
      job.jobId,
      job.errorLines,
    ]);
  }
}

/** The job, unless it does not exist or has expired (expired jobs are gone even before cleanup). */
export async function getJob(q: Queryable, jobId: string): Promise<ExportJob | undefined> {
  const r = await q.query<ExportJob>(
    `SELECT ${JOB_COLUMNS} FROM bulk_export_jobs WHERE job_id = $1 AND expires_at > now()`,
    [jobId],
  );
  return r.rows[0];
}

/** Records a status poll; false when the previous one was less than minIntervalMs ago. */
export async function recordPoll(q: Queryable, jobId: string, minIntervalMs: number): Promise<boolean> {
  const r = await q.query(
    `UPDATE bulk_export_jobs SET last_polled_at = now()
     WHERE job_id = $1 AND (last_polled_at IS NULL OR last_polled_at <= now() - make_interval(secs => $2::float8))
     RETURNING job_id`,
    [jobId, minIntervalMs / 1000],
  );
  return r.rows.length > 0;
}

/** Cancels (or discards) a job: its files and chunks go with it. */
export async function deleteJob(q: Queryable, jobId: string): Promise<boolean> {
  const r = await q.query('DELETE FROM bulk_export_jobs WHERE job_id = $1 RETURNING job_id', [jobId]);
  return r.rows.length > 0;
}

/**
 * Every export still on offer expires now (status and files answer as expired): their files were
 * masked under labels that no longer hold, so a client must export again.
 */
export async function expireAllJobs(q: Queryable): Promise<number> {
  const r = await q.query('UPDATE bulk_export_jobs SET expires_at = now() WHERE expires_at > now() RETURNING job_id');
  return r.rows.length;
}

export async function deleteExpiredJobs(q: Queryable): Promise<number> {
  const r = await q.query('DELETE FROM bulk_export_jobs WHERE expires_at <= now() RETURNING job_id');
  return r.rows.length;
}

export async function listFiles(q: Queryable, jobId: string): Promise<ExportFile[]> {
  const r = await q.query<ExportFile>(
    `SELECT file_no AS "fileNo", kind, resource_type AS "resourceType", resource_count::int AS count,
            bytes::float8 AS bytes, chunks
     FROM bulk_export_files WHERE job_id = $1 ORDER BY file_no`,
    [jobId],
  );
  return r.rows;
}

export async function readChunk(
  q: Queryable,
  jobId: string,
  fileNo: number,
  chunkNo: number,
): Promise<string | undefined> {
  const r = await q.query<{ content: string }>(
    'SELECT content FROM bulk_export_chunks WHERE job_id = $1 AND file_no = $2 AND chunk_no = $3',
    [jobId, fileNo, chunkNo],
  );
  return r.rows[0]?.content;
}

/**
 * Takes the oldest runnable job whose lease is free or expired (a crashed instance's job comes
 * back this way). SKIP LOCKED: instances polling together never wait on or take the same job.
 */
export async function claimJob(q: Queryable, owner: string, leaseSeconds: number): Promise<ExportJob | undefined> {
  const r = await q.query<ExportJob>(
    `UPDATE bulk_export_jobs SET status = 'running', lease_owner = $1,
            lease_until = now() + make_interval(secs => $2::float8), attempts = attempts + 1
     WHERE job_id = (SELECT job_id FROM bulk_export_jobs
                     WHERE status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
                       AND expires_at > now()
                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING ${JOB_COLUMNS}`,
    [owner, leaseSeconds],
  );
  return r.rows[0];
}

export interface BatchCommit {
  jobId: string;
  owner: string;
  leaseSeconds: number;
  /** Resume point after this batch. */
  typeIndex: number;
  afterSeq: string;
  /** The batch's NDJSON, appended to the type's file (none when only moving to the next type). */
  chunk?: { fileNo: number; resourceType: string; content: string; count: number } | undefined;
}

/** Commits one batch; false when the lease was lost or the job cancelled (nothing is written). */
export async function commitBatch(q: Queryable, b: BatchCommit): Promise<boolean> {
  const held = await q.query(
    `UPDATE bulk_export_jobs SET type_index = $3, after_seq = $4::bigint, exported = exported + $5,
            lease_until = now() + make_interval(secs => $6::float8)
     WHERE job_id = $1 AND lease_owner = $2 AND status = 'running' RETURNING job_id`,
    [b.jobId, b.owner, b.typeIndex, b.afterSeq, b.chunk?.count ?? 0, b.leaseSeconds],
  );
  if (held.rows.length === 0) return false;
  if (b.chunk) {
    const c = b.chunk;
    const f = await q.query<{ chunk_no: number }>(
      `INSERT INTO bulk_export_files AS f (job_id, file_no, kind, resource_type, resource_count, bytes, chunks)
       VALUES ($1, $2, 'output', $3, $4, $5, 1)
       ON CONFLICT (job_id, file_no) DO UPDATE SET resource_count = f.resource_count + excluded.resource_count,
         bytes = f.bytes + excluded.bytes, chunks = f.chunks + 1
       RETURNING chunks - 1 AS chunk_no`,
      [b.jobId, c.fileNo, c.resourceType, c.count, Buffer.byteLength(c.content)],
    );
    await q.query('INSERT INTO bulk_export_chunks (job_id, file_no, chunk_no, content) VALUES ($1, $2, $3, $4)', [
      b.jobId,
      c.fileNo,
      f.rows[0]?.chunk_no ?? 0,
      c.content,
    ]);
  }
  return true;
}

export async function completeJob(q: Queryable, jobId: string, owner: string, ttlHours: number): Promise<boolean> {
  const r = await q.query(
    `UPDATE bulk_export_jobs SET status = 'completed', lease_owner = NULL, lease_until = NULL,
            expires_at = now() + make_interval(secs => $3::float8)
     WHERE job_id = $1 AND lease_owner = $2 AND status = 'running' RETURNING job_id`,
    [jobId, owner, ttlHours * 3600],
  );
  return r.rows.length > 0;
}

/** A failed job keeps no partial output: its manifest must never point at incomplete data. */
export async function failJob(q: Queryable, jobId: string, error: string): Promise<void> {
  await q.query("DELETE FROM bulk_export_files WHERE job_id = $1 AND kind = 'output'", [jobId]);
  await q.query(
    `UPDATE bulk_export_jobs SET status = 'failed', error = $2, lease_owner = NULL, lease_until = NULL
     WHERE job_id = $1`,
    [jobId, error],
  );
}

/** Hands this worker's jobs back at shutdown, so another instance resumes them at once. */
export async function releaseLeases(q: Queryable, owner: string): Promise<void> {
  await q.query(
    "UPDATE bulk_export_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND status = 'running'",
    [owner],
  );
}

/** How an export reaches the resources it may include (level and group membership). */
export interface ExportScope {
  level: 'system' | 'patient' | 'group';
  patientIds?: string[] | undefined;
}

export interface ExportBatchQuery {
  resourceType: string;
  scope: ExportScope;
  /** Alternatives (ORed): _typeFilter queries, each with the caller's masking exclusions. */
  requests: SearchRequest[];
  afterSeq: string;
  transactionTime: string;
  since: string | undefined;
  limit: number;
  baseUrl: string;
}

export interface ExportRow {
  seq: string;
  /** Null for a row of the window that the export's conditions leave out. */
  content: string | null;
}

/**
 * One keyset window of `limit` rows in created_seq order (an ordered scan of resources_type_seq,
 * whatever the planner knows about the table), with the export's conditions applied inside the
 * window: every batch costs the same however selective the filters, and memory stays one window.
 * Fewer than `limit` rows back means the type is done; the last seq is the resume point.
 */
export async function readExportBatch(db: Db, b: ExportBatchQuery): Promise<ExportRow[]> {
  // The audit trail has tables of its own; its export is system-level and unfiltered (export-routes.ts).
  if (b.resourceType === AUDIT_EVENT_TYPE) {
    return readAuditExportBatch(db, {
      afterMicros: b.afterSeq,
      transactionTime: b.transactionTime,
      since: b.since,
      limit: b.limit,
    });
  }
  const p = new ParamList();
  const window = `SELECT * FROM resources WHERE resource_type = ${p.add(b.resourceType)} AND NOT deleted
                  AND created_seq > ${p.add(b.afterSeq)}::bigint ORDER BY created_seq LIMIT ${Math.trunc(b.limit)}`;
  const conditions = [`r.last_updated <= ${p.add(b.transactionTime)}::timestamptz`];
  if (b.since) conditions.push(`r.last_updated > ${p.add(b.since)}::timestamptz`);
  const owner = 'x.resource_type = r.resource_type AND x.id = r.id';
  if (b.scope.level === 'patient' && b.resourceType !== 'Patient') {
    conditions.push(`EXISTS (SELECT 1 FROM sp_reference x WHERE ${owner} AND x.target LIKE 'Patient/%')`);
  }
  // A Group's members, or the patients a `patient` parameter names (Patient or Group level).
  if (b.scope.level === 'group' || b.scope.patientIds) {
    const ids = b.scope.patientIds ?? [];
    conditions.push(
      b.resourceType === 'Patient'
        ? `r.id = ANY(${p.add(ids)}::text[])`
        : `EXISTS (SELECT 1 FROM sp_reference x WHERE ${owner} AND x.target = ANY(${p.add(ids.map((i) => `Patient/${i}`))}::text[]))`,
    );
  }
  if (b.requests.length > 0) {
    conditions.push(`(${b.requests.map((req) => `(${whereClause(req, p, b.baseUrl)})`).join(' OR ')})`);
  }
  const sql = `SELECT r.created_seq::text AS seq, CASE WHEN ${conditions.join(' AND ')} THEN r.content END AS content
     FROM (${window}) r ORDER BY r.created_seq`;
  // Without table statistics (PGlite never auto-analyzes; a freshly loaded PostgreSQL table neither)
  // the planner guesses a few rows and sorts a bitmap scan of everything after the cursor: quadratic
  // over an export. The window is an ordered index range scan by construction, so say so.
  return db.transaction(async (tx) => {
    await tx.query('SET LOCAL enable_bitmapscan = off');
    await tx.query('SET LOCAL enable_sort = off');
    return (await tx.query<ExportRow>(sql, p.values)).rows;
  });
}
