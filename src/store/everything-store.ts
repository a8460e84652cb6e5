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
  const subjects = `SELECT 'ResearchSubject/' || s.id FROM sp_reference s
                    WHERE s.resource_type = 'ResearchSubject' AND s.param = 'individual' AND s.target = ${patientRef}`;
  // Candidates from the reference index by (type, param, target), the order of its lookup index:
  // a handful of index probes, instead of testing every resource of the types in created_seq order.
  const candidates = `SELECT x.resource_type, x.id FROM sp_reference x
      JOIN unnest(${p.add(e.refParams.map(([t]) => t))}::text[], ${p.add(e.refParams.map(([, c]) => c))}::text[]) AS k(t, c)
        ON x.resource_type = k.t AND x.param = k.c
      WHERE x.target = ${patientRef} OR x.target IN (${subjects})
      UNION SELECT 'Patient', ${p.add(e.patientId)}`;
  const conditions = [`r.resource_type = ANY(${p.add(e.types)}::text[])`, 'NOT r.deleted'];
  if (e.since) conditions.push(`r.last_updated > ${p.add(e.since)}::timestamptz`);
  if (e.afterSeq) conditions.push(`r.created_seq > ${p.add(e.afterSeq)}::bigint`);
  for (const x of e.exclusions) {
    const cond = filterCondition(x.filter, p, e.baseUrl);
    conditions.push(x.type ? `NOT (r.resource_type = ${p.add(x.type)} AND ${cond})` : `NOT ${cond}`);
  }
  const r = await q.query<VersionRow & { seq: string }>(
    `SELECT r.resource_type, r.id, r.version_id, ${LAST_UPDATED_SQL.replace('last_updated', 'r.last_updated')} AS last_updated,
            r.deleted, r.content, r.created_seq::text AS seq
     FROM (${candidates}) c JOIN resources r ON r.resource_type = c.resource_type AND r.id = c.id
     WHERE ${conditions.join(' AND ')} ORDER BY r.created_seq LIMIT ${Math.trunc(e.count) + 1}`,
    p.values,
  );
  const more = r.rows.length > e.count;
  const rows = more ? r.rows.slice(0, e.count) : r.rows;
  return { entries: rows.map(toStoredVersion), next: more ? rows[rows.length - 1]?.seq : undefined };
}
