/** Enrolled subjects as the upstream pull sees them, and their per-subject cursors (SQL only). */
import type { Queryable } from './db.ts';

export interface PullSubject {
  researchSubjectId: string;
  studyId: string;
  patientId: string;
  status: string;
  /** ResearchSubject.period.start (treatment start), if known. */
  start: string | null;
  lastUpdated: string | null;
  /** Upstream results ("Type/id/version") already fed whose meta.lastUpdated is lastUpdated itself. */
  seenAtCursor: string[];
  backfilledAt: string | null;
}

interface Row {
  id: string;
  study: string | null;
  individual: string | null;
  status: string | null;
  start: string | null;
  last_updated: string | null;
  seen_at_cursor: string[] | null;
  backfilled_at: string | null;
}

/** ResearchSubjects in the given statuses that name a Patient and a ResearchStudy. */
export async function listPullSubjects(q: Queryable, statuses: readonly string[]): Promise<PullSubject[]> {
  const r = await q.query<Row>(
    `SELECT r.id,
            (SELECT x.target FROM sp_reference x WHERE x.resource_type = 'ResearchSubject' AND x.id = r.id AND x.param = 'study' LIMIT 1) AS study,
            (SELECT x.target FROM sp_reference x WHERE x.resource_type = 'ResearchSubject' AND x.id = r.id AND x.param = 'individual' LIMIT 1) AS individual,
            (SELECT x.code FROM sp_token x WHERE x.resource_type = 'ResearchSubject' AND x.id = r.id AND x.param = 'status' LIMIT 1) AS status,
            (r.content::jsonb -> 'period' ->> 'start') AS start,
            c.last_updated,
            c.seen_at_cursor,
            to_char(c.backfilled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS backfilled_at
     FROM resources r LEFT JOIN upstream_pull_cursors c ON c.research_subject_id = r.id
     WHERE r.resource_type = 'ResearchSubject' AND NOT r.deleted
     ORDER BY r.id`,
  );
  const out: PullSubject[] = [];
  for (const s of r.rows) {
    if (!s.individual?.startsWith('Patient/') || !s.study?.startsWith('ResearchStudy/')) continue;
    if (!s.status || !statuses.includes(s.status)) continue;
    out.push({
      researchSubjectId: s.id,
      studyId: s.study.slice('ResearchStudy/'.length),
      patientId: s.individual.slice('Patient/'.length),
      status: s.status,
      start: s.start,
      lastUpdated: s.last_updated,
      seenAtCursor: s.seen_at_cursor ?? [],
      backfilledAt: s.backfilled_at,
    });
  }
  return out;
}

export async function saveBackfill(q: Queryable, subjectId: string, patientId: string): Promise<void> {
  await q.query(
    `INSERT INTO upstream_pull_cursors (research_subject_id, patient_id, backfilled_at) VALUES ($1, $2, now())
     ON CONFLICT (research_subject_id) DO UPDATE SET backfilled_at = now(), patient_id = excluded.patient_id`,
    [subjectId, patientId],
  );
}

/**
 * Moves the cursor forward only (two pulls racing never move it back). `seenAtCursor`: what was fed
 * at the cursor's own instant, replacing the list when the cursor moves and added to it when not.
 */
export async function savePullCursor(
  q: Queryable,
  subjectId: string,
  patientId: string,
  lastUpdated: string | null,
  error: string | null,
  seenAtCursor: readonly string[] = [],
): Promise<void> {
  await q.query(
    `INSERT INTO upstream_pull_cursors (research_subject_id, patient_id, last_updated, seen_at_cursor, pulled_at, last_error)
     VALUES ($1, $2, $3, $5::text[], now(), $4)
     ON CONFLICT (research_subject_id) DO UPDATE SET pulled_at = now(), last_error = excluded.last_error,
       last_updated = CASE
         WHEN excluded.last_updated IS NULL THEN upstream_pull_cursors.last_updated
         WHEN upstream_pull_cursors.last_updated IS NULL THEN excluded.last_updated
         WHEN excluded.last_updated::timestamptz > upstream_pull_cursors.last_updated::timestamptz THEN excluded.last_updated
         ELSE upstream_pull_cursors.last_updated END,
       seen_at_cursor = CASE
         WHEN excluded.last_updated IS NULL THEN upstream_pull_cursors.seen_at_cursor
         WHEN upstream_pull_cursors.last_updated IS NULL THEN excluded.seen_at_cursor
         WHEN excluded.last_updated::timestamptz > upstream_pull_cursors.last_updated::timestamptz THEN excluded.seen_at_cursor
         WHEN excluded.last_updated::timestamptz = upstream_pull_cursors.last_updated::timestamptz
           THEN ARRAY(SELECT DISTINCT x FROM unnest(upstream_pull_cursors.seen_at_cursor || excluded.seen_at_cursor) AS x ORDER BY x)
         ELSE upstream_pull_cursors.seen_at_cursor END`,
    [subjectId, patientId, lastUpdated, error, seenAtCursor],
  );
}
