/** Which search-parameter signature each type's index rows were written with (migration 0025). */
import type { Queryable } from './db.ts';

export async function readIndexSignatures(q: Queryable): Promise<Map<string, string>> {
  const r = await q.query<{ resource_type: string; signature: string }>(
    'SELECT resource_type, signature FROM search_index_state',
  );
  return new Map(r.rows.map((row) => [row.resource_type, row.signature]));
}

export async function recordIndexSignature(q: Queryable, resourceType: string, signature: string): Promise<void> {
  await q.query(
    `INSERT INTO search_index_state (resource_type, signature) VALUES ($1, $2)
     ON CONFLICT (resource_type) DO UPDATE SET signature = excluded.signature, recorded_at = now()`,
    [resourceType, signature],
  );
}

/** Of these types, those with at least one stored version (current or not): one index probe each. */
export async function typesWithResources(q: Queryable, types: readonly string[]): Promise<Set<string>> {
  const r = await q.query<{ t: string }>(
    `SELECT t FROM unnest($1::text[]) AS t
     WHERE EXISTS (SELECT 1 FROM resources WHERE resource_type = t)`,
    [types],
  );
  return new Set(r.rows.map((row) => row.t));
}
