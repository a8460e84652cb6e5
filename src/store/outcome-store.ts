/**
 * SQL of the outcomes stage: claiming subjects marked stale (SKIP LOCKED, so instances share the
 * work and never compute one subject twice at once), reading a subject's trial records and current
 * outcome resources, and the summary rows the MeasureReports aggregate.
 */
import type { Queryable } from './db.ts';

/** Arbitrary namespace for per-subject advisory locks: "outcomes of ResearchSubject X". */
const LOCK_PREFIX = 'outcomes:';

/**
 * Takes up to `limit` marks (oldest first) that no other instance holds, deletes them, and returns
 * their distinct subjects. Must run in the transaction that recomputes them: if it rolls back, the
 * marks come back. A mark written later for the same subject stays and triggers another pass.
 */
export async function claimMarkedSubjects(q: Queryable, limit: number): Promise<string[]> {
  const r = await q.query<{ research_subject_id: string }>(
    `WITH picked AS (
       SELECT mark_id FROM outcome_marks ORDER BY mark_id LIMIT $1 FOR UPDATE SKIP LOCKED
     )
     DELETE FROM outcome_marks m USING picked p WHERE m.mark_id = p.mark_id
     RETURNING m.research_subject_id`,
    [limit],
  );
  return [...new Set(r.rows.map((row) => row.research_subject_id))];
}

/** Serialises recomputation of one subject across instances, until the transaction ends. */
export async function lockSubjectOutcomes(q: Queryable, researchSubjectId: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${LOCK_PREFIX}${researchSubjectId}`]);
}

export async function countMarks(q: Queryable): Promise<number> {
  const r = await q.query<{ n: string }>('SELECT count(*)::text AS n FROM outcome_marks');
  return Number(r.rows[0]?.n ?? 0);
}

/** Marks every ResearchSubject (an admin's full recomputation). */
export async function markAllSubjects(q: Queryable): Promise<number> {
  const r = await q.query<{ n: string }>(
    `WITH ins AS (
       INSERT INTO outcome_marks (research_subject_id)
       SELECT id FROM resources WHERE resource_type = 'ResearchSubject' AND NOT deleted
       RETURNING 1
     ) SELECT count(*)::text AS n FROM ins`,
  );
  return Number(r.rows[0]?.n ?? 0);
}

export interface StoredContent {
  resourceType: string;
  id: string;
  versionId: number;
  content: string;
}

type ContentRow = { resource_type: string; id: string; version_id: number; content: string };

function toStoredContent(row: ContentRow): StoredContent {
  return { resourceType: row.resource_type, id: row.id, versionId: row.version_id, content: row.content };
}

/** Current (not deleted) resources of these types whose research-subject parameter is one of the subjects. */
export async function readBySubjects(
  q: Queryable,
  types: readonly string[],
  researchSubjectIds: readonly string[],
): Promise<StoredContent[]> {
  if (researchSubjectIds.length === 0) return [];
  const r = await q.query<ContentRow>(
    `SELECT r.resource_type, r.id, r.version_id, r.content
       FROM sp_reference s
       JOIN resources r ON r.resource_type = s.resource_type AND r.id = s.id
      WHERE s.resource_type = ANY($1::text[]) AND s.param = 'research-subject'
        AND s.target = ANY($2::text[]) AND NOT r.deleted`,
    [types, researchSubjectIds.map((id) => `ResearchSubject/${id}`)],
  );
  return r.rows.map(toStoredContent);
}

/** Current resources of a type that reference one of the targets through a parameter. */
export async function readByReference(
  q: Queryable,
  types: readonly string[],
  param: string,
  targets: readonly string[],
): Promise<StoredContent[]> {
  if (targets.length === 0) return [];
  const r = await q.query<ContentRow>(
    `SELECT r.resource_type, r.id, r.version_id, r.content
       FROM sp_reference s
       JOIN resources r ON r.resource_type = s.resource_type AND r.id = s.id
      WHERE s.resource_type = ANY($1::text[]) AND s.param = $2 AND s.target = ANY($3::text[]) AND NOT r.deleted`,
    [types, param, targets],
  );
  return r.rows.map(toStoredContent);
}

/**
 * One row of outcome_summary: a computed outcome, or (kind "measure:<id>") the value of a measure
 * that counts at a visit, in the measure's canonical unit, for the flat analysis export.
 */
export interface SummaryRow {
  studyId: string;
  researchSubjectId: string;
  arm: string;
  visit: string;
  kind: string;
  /** '' for numeric outcomes. */
  category: string;
  value: number | null;
}

/** Replaces the subject's summary rows (inside the publishing transaction); returns the arms they were in. */
export async function replaceSummary(
  q: Queryable,
  researchSubjectId: string,
  rows: readonly SummaryRow[],
): Promise<string[]> {
  const old = await q.query<{ arm: string }>(
    'DELETE FROM outcome_summary WHERE research_subject_id = $1 RETURNING arm',
    [researchSubjectId],
  );
  const arms = [...new Set(old.rows.map((r) => r.arm))];
  if (rows.length === 0) return arms;
  await q.query(
    `INSERT INTO outcome_summary (study_id, research_subject_id, arm, visit, kind, category, value)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[])`,
    [
      rows.map((r) => r.studyId),
      rows.map((r) => r.researchSubjectId),
      rows.map((r) => r.arm),
      rows.map((r) => r.visit),
      rows.map((r) => r.kind),
      rows.map((r) => r.category),
      rows.map((r) => r.value),
    ],
  );
  return arms;
}

export interface AggregateRow {
  arm: string;
  visit: string;
  kind: string;
  category: string;
  /** Subjects with this outcome. */
  count: number;
  median: number | null;
  /** Sum of the values (adverse events: events per term). */
  sum: number | null;
}

/** Counts per category and medians per kind, by arm and visit, for one study. */
export async function aggregateSummary(
  q: Queryable,
  studyId: string,
  arms: readonly string[],
): Promise<AggregateRow[]> {
  const r = await q.query<{
    arm: string;
    visit: string;
    kind: string;
    category: string;
    n: string;
    median: string | null;
    total: string | null;
  }>(
    `SELECT arm, visit, kind, category, count(*)::text AS n,
            (percentile_cont(0.5) WITHIN GROUP (ORDER BY value))::text AS median,
            sum(value)::text AS total
       FROM outcome_summary WHERE study_id = $1 AND arm = ANY($2::text[]) AND kind NOT LIKE 'measure:%'
      GROUP BY arm, visit, kind, category
      ORDER BY arm, visit, kind, category`,
    [studyId, arms],
  );
  return r.rows.map((row) => ({
    arm: row.arm,
    visit: row.visit,
    kind: row.kind,
    category: row.category,
    count: Number(row.n),
    median: row.median === null ? null : Number(row.median),
    sum: row.total === null ? null : Number(row.total),
  }));
}

/** Every current resource of a type (small types only: ResearchSubject for the coordinator overview). */
export async function readByType(q: Queryable, type: string): Promise<StoredContent[]> {
  const r = await q.query<ContentRow>(
    'SELECT resource_type, id, version_id, content FROM resources WHERE resource_type = $1 AND NOT deleted ORDER BY created_seq',
    [type],
  );
  return r.rows.map(toStoredContent);
}

export interface ExportSummaryRow {
  researchSubjectId: string;
  arm: string;
  visit: string;
  kind: string;
  category: string;
  value: number | null;
}

/**
 * The next batch of subjects (by id, after `afterSubjectId`) with all their summary rows, for the
 * flat export: keyset paging keeps memory bounded by the batch, whatever the study's size.
 */
export async function readSummaryBatch(
  q: Queryable,
  studyId: string,
  afterSubjectId: string,
  subjects: number,
): Promise<ExportSummaryRow[]> {
  const r = await q.query<{
    research_subject_id: string;
    arm: string;
    visit: string;
    kind: string;
    category: string;
    value: string | null;
  }>(
    `WITH batch AS (
       SELECT DISTINCT research_subject_id FROM outcome_summary
        WHERE study_id = $1 AND research_subject_id > $2 ORDER BY research_subject_id LIMIT $3
     )
     SELECT s.research_subject_id, s.arm, s.visit, s.kind, s.category, s.value::text AS value
       FROM outcome_summary s JOIN batch b ON b.research_subject_id = s.research_subject_id
      WHERE s.study_id = $1
      ORDER BY s.research_subject_id`,
    [studyId, afterSubjectId, subjects],
  );
  return r.rows.map((row) => ({
    researchSubjectId: row.research_subject_id,
    arm: row.arm,
    visit: row.visit,
    kind: row.kind,
    category: row.category,
    value: row.value === null ? null : Number(row.value),
  }));
}
