/** Enrolled children found by an identifier the hospital gave them (its MRN): one index probe. */
import type { Queryable } from './db.ts';

export async function findPatientIdsByIdentifier(q: Queryable, system: string, value: string): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `SELECT DISTINCT t.id FROM sp_token t
       JOIN resources r ON r.resource_type = t.resource_type AND r.id = t.id AND NOT r.deleted
      WHERE t.resource_type = 'Patient' AND t.param = 'identifier' AND t.system = $1 AND t.code = $2
      ORDER BY t.id LIMIT 10`,
    [system, value],
  );
  return r.rows.map((row) => row.id);
}
