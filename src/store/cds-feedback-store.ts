/** CDS Hooks card feedback, as received (one row per feedback item). */
import type { Queryable } from './db.ts';

export interface CdsFeedbackRow {
  serviceId: string;
  issuer: string;
  card: string;
  outcome: string;
  overrideReason: string | undefined;
  outcomeAt: string;
}

export async function addCdsFeedback(q: Queryable, rows: readonly CdsFeedbackRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO cds_feedback (service_id, issuer, card, outcome, override_reason, outcome_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])`,
    [
      rows.map((r) => r.serviceId),
      rows.map((r) => r.issuer),
      rows.map((r) => r.card),
      rows.map((r) => r.outcome),
      rows.map((r) => r.overrideReason ?? null),
      rows.map((r) => r.outcomeAt),
    ],
  );
}

export async function countCdsFeedback(q: Queryable, card: string): Promise<number> {
  const r = await q.query<{ n: string }>('SELECT count(*)::text AS n FROM cds_feedback WHERE card = $1', [card]);
  return Number(r.rows[0]?.n ?? 0);
}
