/**
 * SQL of the outcomes stage: claiming subjects marked stale (SKIP LOCKED, so instances share the
 * work and never compute one subject twice at once), reading a subject's trial records and current
 * outcome resources, and the summary rows the MeasureReports aggregate.
 */
import type { Queryable } from './db.ts';

/** Arbitrary namespace for per-subject advisory locks: "outcomes of ResearchSubject X". */
const LOCK_PREFIX = 'outcomes:';

/**
 * Takes up to `limit` marks (oldest first) that no other instance holds, and with them every other
 * mark of the same subjects visible now (one recomputation reads everything those marks stand for:
 * without this, a subject whose marks spread over several batches was recomputed once per batch),
 * deletes them, and returns their distinct subjects, each locked for recomputation until the
 * transaction ends: that lock serialises the recomputation of a subject across instances, and taken
 * in the claiming statement it costs no round trip of its own. Must run in the transaction that
 * recomputes them: if it rolls back, the marks come back. A mark written later for the same subject
 * stays and triggers another pass. A statement after this one reads what another instance's
 * recomputation of these subjects committed.
 */
export async function claimMarkedSubjects(q: Queryable, limit: number): Promise<{ subjects: string[]; marks: number }> {
  return claimedSubjects((await q.query(claimStatement(limit))).rows);
}

/**
 * claimMarkedSubjects' statement, without parameters, so that it can go with its transaction's
 * BEGIN in one round trip (TransactionOptions.firstRead); claimedSubjects reads its rows.
 */
export function claimStatement(limit: number): string {
  const n = Math.max(1, Math.floor(limit));
  if (!Number.isSafeInteger(n)) throw new RangeError(`claim limit ${limit}`);
  return `WITH picked AS (
       SELECT mark_id, research_subject_id FROM outcome_marks m
        -- A subject whose recomputation failed waits for its retry (0055_outcome_failures.sql).
        WHERE NOT EXISTS (
          SELECT 1 FROM outcome_failures f WHERE f.research_subject_id = m.research_subject_id AND f.retry_at > now()
        )
        ORDER BY mark_id LIMIT ${n} FOR UPDATE SKIP LOCKED
     ), same_subject AS (
       SELECT m.mark_id FROM outcome_marks m
        WHERE m.research_subject_id IN (SELECT DISTINCT research_subject_id FROM picked)
        FOR UPDATE SKIP LOCKED
     ), taken AS (
       DELETE FROM outcome_marks m
        WHERE m.mark_id IN (SELECT mark_id FROM picked UNION SELECT mark_id FROM same_subject)
       RETURNING m.research_subject_id
     )
     -- The locks in key order (the ORDER BY keeps the subquery from being flattened), so two
     -- instances never wait on each other in a cycle.
     SELECT s.research_subject_id, (SELECT count(*)::int FROM taken) AS marks
       FROM (SELECT DISTINCT research_subject_id FROM taken ORDER BY 1) AS s
      WHERE pg_advisory_xact_lock(hashtext('${LOCK_PREFIX}' || s.research_subject_id)) IS NOT NULL`;
}

/** The subjects a claim took, from its rows. */
export function claimedSubjects(rows: readonly Record<string, unknown>[]): { subjects: string[]; marks: number } {
  // `marks` below the limit: no other mark was there to take (beyond those other instances hold).
  return {
    subjects: rows.map((row) => String(row.research_subject_id)),
    marks: Number(rows[0]?.marks ?? 0),
  };
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

/** The ResearchSubjects whose individual is this Patient (a change to the Patient changes their outcomes). */
export async function subjectsOfPatient(q: Queryable, patientId: string): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `SELECT id FROM sp_reference WHERE resource_type = 'ResearchSubject' AND param = 'individual' AND target = $1`,
    [`Patient/${patientId}`],
  );
  return r.rows.map((row) => row.id);
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
export function readBySubjects(
  q: Queryable,
  types: readonly string[],
  researchSubjectIds: readonly string[],
): Promise<StoredContent[]> {
  return readByReference(
    q,
    types,
    'research-subject',
    researchSubjectIds.map((id) => `ResearchSubject/${id}`),
  );
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

/** What one recomputation reads for a batch of subjects (see readSubjectInputs). */
export interface SubjectInputRows {
  /** Current ResearchSubjects by id. */
  subjects: Map<string, StoredContent>;
  /** Trial records (and current outcomes) by "ResearchSubject/<id>". */
  records: Map<string, StoredContent[]>;
  /** Current Patients by "Patient/<id>", the subjects' individuals. */
  patients: Map<string, StoredContent>;
  /** The Patients' medications by "Patient/<id>". */
  medications: Map<string, StoredContent[]>;
}

/**
 * The selects of readSubjectInputs, for a statement that defines `subjects` (a CTE of ResearchSubject
 * ids, column `id`) and `patients` (a CTE of their individuals' distinct "Patient/<id>", column
 * `target`): rows of (role, k, resource_type, id, version_id, content), role 's' a ResearchSubject
 * (k its id), 'r' a record (k "ResearchSubject/<id>"), 'p' a Patient and 'm' a medication (k the
 * Patient's reference). One index lookup per subject, target and Patient, the Patient's by the
 * owner index (see readFingerprints). Shared with readChangedSubjectInputs, so that both read alike.
 */
export function subjectInputSelects(
  subjects: string,
  patients: string,
  recordTypes: string,
  medicationTypes: string,
): string {
  return `SELECT 's' AS role, r.id AS k, r.resource_type, r.id, r.version_id, r.content
       FROM ${subjects} s JOIN resources r ON r.resource_type = 'ResearchSubject' AND r.id = s.id AND NOT r.deleted
     UNION ALL
     SELECT 'r', x.target, r.resource_type, r.id, r.version_id, r.content
       FROM ${subjects} s
       CROSS JOIN LATERAL (
         SELECT y.resource_type, y.id, y.target FROM sp_reference y
          WHERE y.resource_type = ANY(${recordTypes}) AND y.param = 'research-subject'
            AND y.target = 'ResearchSubject/' || s.id
         OFFSET 0
       ) x
       JOIN resources r ON r.resource_type = x.resource_type AND r.id = x.id
      WHERE NOT r.deleted
     UNION ALL
     SELECT 'p', pt.target, r.resource_type, r.id, r.version_id, r.content
       FROM ${patients} pt JOIN resources r ON r.resource_type = 'Patient' AND r.id = substr(pt.target, 9) AND NOT r.deleted
     UNION ALL
     SELECT 'm', x.target, r.resource_type, r.id, r.version_id, r.content
       FROM ${patients} pt
       CROSS JOIN LATERAL (
         SELECT y.resource_type, y.id, y.target FROM sp_reference y
          WHERE y.resource_type = ANY(${medicationTypes}) AND y.param = 'subject' AND y.target = pt.target
         OFFSET 0
       ) x
       JOIN resources r ON r.resource_type = x.resource_type AND r.id = x.id
      WHERE NOT r.deleted`;
}

/** A row of subjectInputSelects. */
export type SubjectInputRow = ContentRow & { role: string; k: string };

/** Sorts subjectInputSelects' rows into their maps (rows of other roles are skipped). */
export function subjectInputRows(
  researchSubjectIds: readonly string[],
  rows: readonly SubjectInputRow[],
): SubjectInputRows {
  const out: SubjectInputRows = {
    subjects: new Map(),
    records: new Map(),
    patients: new Map(),
    medications: new Map(),
  };
  for (const id of researchSubjectIds) out.records.set(`ResearchSubject/${id}`, []);
  for (const row of rows) {
    if (row.role === 's') out.subjects.set(row.k, toStoredContent(row));
    else if (row.role === 'p') out.patients.set(row.k, toStoredContent(row));
    else if (row.role === 'r') out.records.get(row.k)?.push(toStoredContent(row));
    else if (row.role === 'm') {
      const c = toStoredContent(row);
      const list = out.medications.get(row.k);
      if (list) list.push(c);
      else out.medications.set(row.k, [c]);
    }
  }
  return out;
}

/**
 * The ResearchSubjects, their records of `recordTypes` (by their research-subject parameter), their
 * individuals (Patients) and those Patients' resources of `medicationTypes` (by subject), in one
 * round trip for the whole batch: four statements cost a single subject four round trips.
 */
export async function readSubjectInputs(
  q: Queryable,
  researchSubjectIds: readonly string[],
  recordTypes: readonly string[],
  medicationTypes: readonly string[],
): Promise<SubjectInputRows> {
  if (researchSubjectIds.length === 0) return subjectInputRows([], []);
  const r = await q.query<SubjectInputRow>(
    `WITH s AS (SELECT DISTINCT u.id FROM unnest($1::text[]) AS u(id)),
     pt AS (SELECT DISTINCT x.target FROM s
              CROSS JOIN LATERAL (
                SELECT y.target FROM sp_reference y
                 WHERE y.resource_type = 'ResearchSubject' AND y.id = s.id AND y.param || '' = 'individual'
                   AND y.target LIKE 'Patient/%'
                OFFSET 0
              ) x)
     ${subjectInputSelects('s', 'pt', '$2::text[]', '$3::text[]')}`,
    [[...researchSubjectIds], recordTypes, medicationTypes],
  );
  return subjectInputRows(researchSubjectIds, r.rows);
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

/** One MeasureReport group of one arm at one visit. */
export interface SummaryKey {
  arm: string;
  visit: string;
  kind: string;
}

/**
 * One summary row a recomputation removed (sign -1) or added (+1) in a MeasureReport group whose
 * rows changed: what applySummaryChanges applies to the kept counts.
 */
export interface SummaryDelta extends SummaryKey {
  studyId: string;
  researchSubjectId: string;
  category: string;
  /** Numeric text as stored (removed rows) or the number written (added rows). */
  value: string | number | null;
  sign: 1 | -1;
}

const MEASURE_KIND = /^measure:/;

function groupBy<T>(list: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const t of list) {
    const k = key(t);
    const l = out.get(k);
    if (l) l.push(t);
    else out.set(k, [t]);
  }
  return out;
}

/**
 * Replaces the subject's summary rows (inside the publishing transaction); returns the groups
 * (arm, visit, kind) whose rows changed, which are the only ones whose counts can have moved.
 */
export async function replaceSummary(
  q: Queryable,
  researchSubjectId: string,
  rows: readonly SummaryRow[],
): Promise<SummaryKey[]> {
  return (await replaceSummaries(q, [researchSubjectId], rows)).get(researchSubjectId) ?? [];
}

/**
 * `replaceSummary` for a batch of subjects in one statement: `rows` are the new rows of all of
 * them; returns, per subject, the groups whose rows changed. `deltas`, when given, receives the
 * removed and added rows of those groups (for applySummaryChanges). Only rows that changed are
 * written: a row no longer produced is deleted, a new one inserted, one whose value, arm or study
 * moved updated in place; most of a subject's rows are unchanged after one new result, and
 * deleting and inserting them all again rewrote each with its two index entries.
 */
export async function replaceSummaries(
  q: Queryable,
  researchSubjectIds: readonly string[],
  rows: readonly SummaryRow[],
  deltas?: SummaryDelta[],
): Promise<Map<string, SummaryKey[]>> {
  const changed = new Map<string, SummaryKey[]>();
  if (researchSubjectIds.length === 0) return changed;
  // Every sub-statement reads the rows as they were before the statement (one snapshot), so `old`
  // is what the subjects had; the delete and the upsert touch different keys (the primary key
  // research_subject_id, kind, visit, category), so their order does not matter.
  const old = await q.query<{
    study_id: string;
    research_subject_id: string;
    arm: string;
    visit: string;
    kind: string;
    category: string;
    value: string | null;
  }>(
    `WITH n AS (
       SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[])
                AS n(study_id, research_subject_id, arm, visit, kind, category, value)
     ), gone AS (
       DELETE FROM outcome_summary s
        WHERE s.research_subject_id = ANY($1::text[])
          AND NOT EXISTS (
            SELECT 1 FROM n WHERE n.research_subject_id = s.research_subject_id AND n.kind = s.kind
                              AND n.visit = s.visit AND n.category = s.category)
     ), up AS (
       INSERT INTO outcome_summary AS s (study_id, research_subject_id, arm, visit, kind, category, value)
       SELECT * FROM n
       ON CONFLICT (research_subject_id, kind, visit, category) DO UPDATE
          SET study_id = excluded.study_id, arm = excluded.arm, value = excluded.value
        WHERE (s.study_id, s.arm, s.value) IS DISTINCT FROM (excluded.study_id, excluded.arm, excluded.value)
     )
     SELECT study_id, research_subject_id, arm, visit, kind, category, value::text AS value
       FROM outcome_summary WHERE research_subject_id = ANY($1::text[])`,
    [
      [...new Set(researchSubjectIds)],
      rows.map((r) => r.studyId),
      rows.map((r) => r.researchSubjectId),
      rows.map((r) => r.arm),
      rows.map((r) => r.visit),
      rows.map((r) => r.kind),
      rows.map((r) => r.category),
      rows.map((r) => r.value),
    ],
  );
  // Per group, the rows as a sorted signature: a group whose signature differs was changed.
  const signatures = (
    list: readonly { arm: string; visit: string; kind: string; category: string; value: string | number | null }[],
  ) => {
    const out = new Map<string, string[]>();
    for (const r of list) {
      if (MEASURE_KIND.test(r.kind)) continue;
      const key = `${r.arm}\u0000${r.visit}\u0000${r.kind}`;
      const sig = out.get(key) ?? [];
      sig.push(`${r.category}=${r.value === null ? '' : Number(r.value)}`);
      out.set(key, sig);
    }
    return new Map([...out].map(([k, v]) => [k, v.sort().join('\u0001')]));
  };
  const oldBySubject = groupBy(old.rows, (r) => r.research_subject_id);
  const newBySubject = groupBy(rows, (r) => r.researchSubjectId);
  const groupKey = (r: SummaryKey) => `${r.arm}\u0000${r.visit}\u0000${r.kind}`;
  for (const id of new Set(researchSubjectIds)) {
    const oldRows = oldBySubject.get(id) ?? [];
    const newRows = newBySubject.get(id) ?? [];
    const before = signatures(oldRows);
    const after = signatures(newRows);
    const keys: SummaryKey[] = [];
    const moved = new Set<string>();
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      if (before.get(key) === after.get(key)) continue;
      moved.add(key);
      const [arm, visit, kind] = key.split('\u0000') as [string, string, string];
      keys.push({ arm, visit, kind });
    }
    changed.set(id, keys);
    if (!deltas || moved.size === 0) continue;
    for (const r of oldRows) {
      if (!moved.has(groupKey(r))) continue;
      const { study_id: studyId, arm, visit, kind, category, value } = r;
      deltas.push({ studyId, researchSubjectId: id, arm, visit, kind, category, value, sign: -1 });
    }
    for (const r of newRows) {
      if (!moved.has(groupKey(r))) continue;
      const { studyId, arm, visit, kind, category, value } = r;
      deltas.push({ studyId, researchSubjectId: id, arm, visit, kind, category, value, sign: 1 });
    }
  }
  return changed;
}

/**
 * Brings the study's kept MeasureReport counts (outcome_aggregate) up to date, after the caller's
 * lock on the study's MeasureReports (so a concurrent recomputation's committed rows and counts are
 * included): `deltas` (this transaction's removed and added summary rows, see replaceSummaries) are
 * applied to the counts of their groups, `keys` and the groups of the study left pending by an
 * earlier batch (deferAggregates) are recounted from the summary rows (`pending: 'all'`); with
 * `'leave'` the pending groups stay pending, no delta is applied to them, and a later recount one
 * pair at a time (takePendingPair) counts them. Returns every group touched.
 *
 * Applying a difference is exact because every change to the summary rows either applies its own
 * difference here, under the lock and in its transaction (a rollback undoes both), or leaves its
 * groups pending in its transaction, and a pending group is recounted instead: so the counts of a
 * group not pending are those of the rows committed, plus this transaction's.
 */
export async function refreshAggregates(
  q: Queryable,
  studyId: string,
  keys: readonly SummaryKey[],
  deltas: readonly SummaryDelta[] = [],
  pending: 'all' | 'leave' = 'all',
): Promise<SummaryKey[]> {
  const groupKey = (r: SummaryKey) => `${r.arm}\u0000${r.visit}\u0000${r.kind}`;
  const recount = new Map(keys.map((k) => [groupKey(k), { arm: k.arm, visit: k.visit, kind: k.kind }]));
  const applied = deltas.filter((d) => d.studyId === studyId && !recount.has(groupKey(d)));
  // One statement when nothing is pending (one subject after one result): the pending groups are
  // taken, and left out of the differences applied, in it.
  for (const p of await applySummaryChanges(q, studyId, applied, pending === 'all')) recount.set(groupKey(p), p);
  const touched = new Map(recount);
  for (const d of applied) touched.set(groupKey(d), { arm: d.arm, visit: d.visit, kind: d.kind });
  if (recount.size > 0) await recountAggregates(q, studyId, [...recount.values()]);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...touched.values()].sort((a, b) => cmp(a.arm, b.arm) || cmp(a.visit, b.visit) || cmp(a.kind, b.kind));
}

/**
 * Applies removed and added summary rows to the kept counts of their (arm, visit, kind, category),
 * except in the groups left pending, which it takes (deletes) and returns for a recount, or
 * (`takeAllPending` false) leaves pending for a later recount. Counts and
 * sums change by the difference. The median is that of the rows with a value: the kept lower middle
 * row (mid_value, mid_subject) had rank r = floor((valued - 1) / 2); after the change, l rows are
 * before it (r, plus the added rows before it, minus the removed ones), and the new middle, rank
 * t = floor((valued' - 1) / 2), is found t - l rows after it or l - 1 - t rows before it on the
 * index outcome_summary_group: a walk as long as the rows changed, whatever the number of subjects.
 * The median itself is percentile_cont over the middle row and its successor, as a recount computes it.
 */
async function applySummaryChanges(
  q: Queryable,
  studyId: string,
  deltas: readonly SummaryDelta[],
  takeAllPending: boolean,
): Promise<SummaryKey[]> {
  const r = await q.query<SummaryKey>(
    `WITH taken AS (
       DELETE FROM outcome_aggregate_pending p WHERE p.study_id = $1 AND $9::boolean RETURNING p.arm, p.visit, p.kind
     ), pending AS (
       SELECT arm, visit, kind FROM taken
       UNION ALL
       SELECT p.arm, p.visit, p.kind FROM outcome_aggregate_pending p WHERE p.study_id = $1 AND NOT $9::boolean
     ), d AS (
       SELECT c.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::text[], $8::int[])
                AS c(arm, visit, kind, category, value, sid, sign)
        WHERE NOT EXISTS (SELECT 1 FROM pending p WHERE p.arm = c.arm AND p.visit = c.visit AND p.kind = c.kind)
     ), g AS (
       SELECT arm, visit, kind, category, sum(sign) AS dn,
              coalesce(sum(sign) FILTER (WHERE value IS NOT NULL), 0) AS dv, coalesce(sum(sign * value), 0) AS dt
         FROM d GROUP BY arm, visit, kind, category
     ), cur AS (
       SELECT g.arm, g.visit, g.kind, g.category, coalesce(a.subjects, 0) + g.dn AS n,
              coalesce(a.valued, 0) + g.dv AS v, coalesce(a.total, 0) + g.dt AS total,
              coalesce(a.valued, 0) AS v0, a.mid_value AS mv, a.mid_subject AS ms
         FROM g LEFT JOIN outcome_aggregate a
           ON a.study_id = $1 AND a.arm = g.arm AND a.visit = g.visit AND a.kind = g.kind AND a.category = g.category
     ), pos AS (
       SELECT cur.*, (cur.v - 1) / 2 AS t,
              (cur.v0 - 1) / 2 + (
                SELECT coalesce(sum(d.sign), 0) FROM d
                 WHERE d.arm = cur.arm AND d.visit = cur.visit AND d.kind = cur.kind AND d.category = cur.category
                   AND (d.value, d.sid) < (cur.mv, cur.ms)
              ) AS l
         FROM cur
     ), mid AS (
       SELECT pos.*, m.value AS mv2, m.sid AS ms2 FROM pos
         LEFT JOIN LATERAL (
           (SELECT s.value, s.research_subject_id AS sid FROM outcome_summary s
             WHERE pos.v > 0 AND pos.mv IS NULL AND s.study_id = $1 AND s.kind NOT LIKE 'measure:%' AND s.arm = pos.arm AND s.visit = pos.visit
               AND s.kind = pos.kind AND s.category = pos.category AND s.value IS NOT NULL
             ORDER BY s.value, s.research_subject_id OFFSET greatest(pos.t, 0) LIMIT 1)
           UNION ALL
           (SELECT s.value, s.research_subject_id FROM outcome_summary s
             WHERE pos.v > 0 AND pos.t >= pos.l AND s.study_id = $1 AND s.kind NOT LIKE 'measure:%' AND s.arm = pos.arm AND s.visit = pos.visit
               AND s.kind = pos.kind AND s.category = pos.category AND (s.value, s.research_subject_id) >= (pos.mv, pos.ms)
             ORDER BY s.value, s.research_subject_id OFFSET greatest(pos.t - pos.l, 0) LIMIT 1)
           UNION ALL
           (SELECT s.value, s.research_subject_id FROM outcome_summary s
             WHERE pos.v > 0 AND pos.t < pos.l AND s.study_id = $1 AND s.kind NOT LIKE 'measure:%' AND s.arm = pos.arm AND s.visit = pos.visit
               AND s.kind = pos.kind AND s.category = pos.category AND (s.value, s.research_subject_id) < (pos.mv, pos.ms)
             ORDER BY s.value DESC, s.research_subject_id DESC OFFSET greatest(pos.l - 1 - pos.t, 0) LIMIT 1)
         ) m ON true
     ), fin AS (
       SELECT mid.*, md.median FROM mid
         LEFT JOIN LATERAL (
           SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.value) AS median FROM (
             SELECT s.value FROM outcome_summary s
              WHERE s.study_id = $1 AND s.kind NOT LIKE 'measure:%' AND s.arm = mid.arm AND s.visit = mid.visit AND s.kind = mid.kind
                AND s.category = mid.category AND (s.value, s.research_subject_id) >= (mid.mv2, mid.ms2)
              ORDER BY s.value, s.research_subject_id LIMIT 2 - mid.v % 2
           ) x
         ) md ON mid.mv2 IS NOT NULL
     ), kept AS (
       INSERT INTO outcome_aggregate AS a
              (study_id, arm, visit, kind, category, subjects, median, total, valued, mid_value, mid_subject)
       SELECT $1, arm, visit, kind, category, n, median, CASE WHEN v > 0 THEN total END, v, mv2, ms2
         FROM fin WHERE n > 0
       ON CONFLICT (study_id, arm, visit, kind, category) DO UPDATE
         SET subjects = excluded.subjects, median = excluded.median, total = excluded.total,
             valued = excluded.valued, mid_value = excluded.mid_value, mid_subject = excluded.mid_subject
     ), gone AS (
       DELETE FROM outcome_aggregate a USING fin
        WHERE fin.n <= 0 AND a.study_id = $1 AND a.arm = fin.arm AND a.visit = fin.visit AND a.kind = fin.kind
          AND a.category = fin.category
     )
     SELECT DISTINCT arm, visit, kind FROM taken`,
    [
      studyId,
      deltas.map((d) => d.arm),
      deltas.map((d) => d.visit),
      deltas.map((d) => d.kind),
      deltas.map((d) => d.category),
      deltas.map((d) => (d.value === null ? null : String(d.value))),
      deltas.map((d) => d.researchSubjectId),
      deltas.map((d) => d.sign),
      takeAllPending,
    ],
  );
  return r.rows.map((k) => ({ arm: k.arm, visit: k.visit, kind: k.kind }));
}

/** Recounts these groups from every summary row of theirs (deleted and written again). */
async function recountAggregates(q: Queryable, studyId: string, keys: readonly SummaryKey[]): Promise<void> {
  const params = [studyId, keys.map((k) => k.arm), keys.map((k) => k.visit), keys.map((k) => k.kind)];
  await q.query(
    `DELETE FROM outcome_aggregate a USING unnest($2::text[], $3::text[], $4::text[]) AS k(arm, visit, kind)
      WHERE a.study_id = $1 AND a.arm = k.arm AND a.visit = k.visit AND a.kind = k.kind`,
    params,
  );
  // The lower middle valued row, rank floor((valued - 1) / 2) from 0, kept for applySummaryChanges.
  await q.query(
    `INSERT INTO outcome_aggregate
            (study_id, arm, visit, kind, category, subjects, median, total, valued, mid_value, mid_subject)
     SELECT s.study_id, s.arm, s.visit, s.kind, s.category, count(*),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY s.value), sum(s.value), count(s.value),
            (array_agg(s.value ORDER BY s.value, s.research_subject_id)
               FILTER (WHERE s.value IS NOT NULL))[(count(s.value) + 1) / 2],
            (array_agg(s.research_subject_id ORDER BY s.value, s.research_subject_id)
               FILTER (WHERE s.value IS NOT NULL))[(count(s.value) + 1) / 2]
       FROM outcome_summary s
       JOIN unnest($2::text[], $3::text[], $4::text[]) AS k(arm, visit, kind)
         ON s.arm = k.arm AND s.visit = k.visit AND s.kind = k.kind
      -- The condition of the index outcome_summary_group (only counted rows are in it).
      WHERE s.study_id = $1 AND s.kind NOT LIKE 'measure:%'
      GROUP BY s.study_id, s.arm, s.visit, s.kind, s.category`,
    params,
  );
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

/** The kept counts and medians of these arm-visit pairs, for their MeasureReports. */
export async function readAggregates(
  q: Queryable,
  studyId: string,
  pairs: readonly { arm: string; visit: string }[],
): Promise<AggregateRow[]> {
  if (pairs.length === 0) return [];
  const r = await q.query<{
    arm: string;
    visit: string;
    kind: string;
    category: string;
    subjects: number;
    median: string | null;
    total: string | null;
  }>(
    `SELECT a.arm, a.visit, a.kind, a.category, a.subjects, a.median::text AS median, a.total::text AS total
       FROM outcome_aggregate a
       JOIN (SELECT DISTINCT * FROM unnest($2::text[], $3::text[]) AS p(arm, visit)) p
         ON a.arm = p.arm AND a.visit = p.visit
      WHERE a.study_id = $1
      ORDER BY a.arm, a.visit, a.kind, a.category`,
    [studyId, pairs.map((p) => p.arm), pairs.map((p) => p.visit)],
  );
  return r.rows.map((row) => ({
    arm: row.arm,
    visit: row.visit,
    kind: row.kind,
    category: row.category,
    count: Number(row.subjects),
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
