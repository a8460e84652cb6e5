/**
 * Patient/{id}/$everything: one page of what the store holds about one patient (the Patient, every
 * resource referencing it, and whatever references its ResearchSubjects), in created_seq order.
 */
import type { SearchFilter } from '../shared/search-request.ts';
import type { Queryable } from './db.ts';
import { LAST_UPDATED_SQL, type StoredVersion, toStoredVersion, type VersionRow } from './resource-rows.ts';
import { filterCondition, ParamList } from './search-conditions.ts';

export interface EverythingQuery {
  patientId: string;
  types: string[];
  /** (type, reference parameter) pairs that can point at a Patient or a ResearchSubject. */
  refParams: [type: string, param: string][];
  since: string | undefined;
  /** Keyset: created_seq of the last entry of the previous page. */
  afterSeq: string | undefined;
  count: number;
  /** What the caller may not see: filters to exclude, each for one type or (no type) for all. */
  exclusions: { type: string | undefined; filter: SearchFilter }[];
  baseUrl: string;
}

export interface EverythingPage {
  entries: StoredVersion[];
  /** created_seq of the last entry, when there are more. */
  next: string | undefined;
}

export async function patientEverything(q: Queryable, e: EverythingQuery): Promise<EverythingPage> {
  const p = new ParamList();
  const patientRef = p.add(`Patient/${e.patientId}`);
  // Everything that references the Patient or one of its ResearchSubjects: per (type, parameter)
  // pair, one probe of the reference lookup index (type, param, target, id) for those targets, read
  // from the index alone. Written as a LATERAL subquery per pair, fenced by OFFSET 0 so that it
  // stays one: flattened, the planner scanned every reference row instead (it cannot tell how many
  // targets the array holds), as it did for the OR with a sub-select written here before.
  const targets = `ARRAY[${patientRef}::text] || ARRAY(SELECT 'ResearchSubject/' || s.id FROM sp_reference s
      WHERE s.resource_type = 'ResearchSubject' AND s.param = 'individual' AND s.target = ${patientRef})`;
  const candidates = `SELECT x.resource_type, x.id
      FROM unnest(${p.add(e.refParams.map(([t]) => t))}::text[], ${p.add(e.refParams.map(([, c]) => c))}::text[]) AS k(t, c)
      CROSS JOIN LATERAL (SELECT x.resource_type, x.id FROM sp_reference x
        WHERE x.resource_type = k.t AND x.param = k.c AND x.target = ANY(${targets}) OFFSET 0) x
      UNION SELECT 'Patient', ${p.add(e.patientId)}`;
  const conditions = [`r.resource_type = ANY(${p.add(e.types)}::text[])`, 'NOT r.deleted'];
  if (e.since) conditions.push(`r.last_updated > ${p.add(e.since)}::timestamptz`);
  if (e.afterSeq) conditions.push(`r.created_seq > ${p.add(e.afterSeq)}::bigint`);
  for (const x of e.exclusions) {
    const cond = filterCondition(x.filter, p, e.baseUrl);
    conditions.push(x.type ? `NOT (r.resource_type = ${p.add(x.type)} AND ${cond})` : `NOT ${cond}`);
  }
  // Each candidate's row by its primary key, in a fenced LATERAL subquery: the planner cannot tell
  // how few candidates there are, and otherwise merged them with every row of `resources`.
  const r = await q.query<VersionRow & { seq: string }>(
    `SELECT m.resource_type, m.id, m.version_id, m.last_updated, m.deleted, m.content, m.created_seq::text AS seq
     FROM (${candidates}) c
     CROSS JOIN LATERAL (SELECT r.resource_type, r.id, r.version_id,
            ${LAST_UPDATED_SQL.replace('last_updated', 'r.last_updated')} AS last_updated, r.deleted, r.content, r.created_seq
       FROM resources r WHERE r.resource_type = c.resource_type AND r.id = c.id AND ${conditions.join(' AND ')}
       OFFSET 0) m
     ORDER BY m.created_seq LIMIT ${Math.trunc(e.count) + 1}`,
    p.values,
  );
  const more = r.rows.length > e.count;
  const rows = more ? r.rows.slice(0, e.count) : r.rows;
  return { entries: rows.map(toStoredVersion), next: more ? rows[rows.length - 1]?.seq : undefined };
}
