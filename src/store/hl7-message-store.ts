/** Applied HL7 v2 messages (see migration 0040): the duplicate check and the ACK to repeat. */
import type { Queryable } from './db.ts';

export async function findAppliedMessage(
  q: Queryable,
  facility: string,
  controlId: string,
): Promise<string | undefined> {
  const r = await q.query<{ ack: string }>(
    'SELECT ack FROM hl7_messages WHERE sending_facility = $1 AND control_id = $2',
    [facility, controlId],
  );
  return r.rows[0]?.ack;
}

/** False when another delivery of the same message was recorded first (the caller rolls back). */
export async function recordAppliedMessage(
  q: Queryable,
  facility: string,
  controlId: string,
  ack: string,
): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO hl7_messages (sending_facility, control_id, ack) VALUES ($1, $2, $3)
     ON CONFLICT (sending_facility, control_id) DO NOTHING RETURNING control_id`,
    [facility, controlId, ack],
  );
  return r.rows.length === 1;
}
