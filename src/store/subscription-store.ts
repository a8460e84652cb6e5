/** The Subscription notification queue and per-subscription event tracking (SQL only). */
import type { Queryable } from './db.ts';

export async function queueNotification(q: Queryable, name: string, content: string): Promise<string> {
  const r = await q.query<{ id: string }>(
    'INSERT INTO subscription_notifications (name, content) VALUES ($1, $2) RETURNING notification_id::text AS id',
    [name, content],
  );
  return r.rows[0]?.id as string;
}

export interface QueuedNotification {
  id: string;
  name: string;
  content: string;
  attempts: number;
}

/** Oldest first, one at a time per caller, leased so another worker does not take it meanwhile. */
export async function claimNotification(q: Queryable, leaseSeconds = 300): Promise<QueuedNotification | undefined> {
  const r = await q.query<QueuedNotification>(
    `UPDATE subscription_notifications SET attempts = attempts + 1,
       lease_until = now() + make_interval(secs => $1)
     WHERE notification_id = (
       SELECT notification_id FROM subscription_notifications
       WHERE status = 'queued' AND (lease_until IS NULL OR lease_until < now())
       ORDER BY notification_id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING notification_id::text AS id, name, content, attempts`,
    [leaseSeconds],
  );
  return r.rows[0];
}

export async function finishNotification(
  q: Queryable,
  id: string,
  status: 'processed' | 'failed' | 'queued',
  error: string | null,
): Promise<void> {
  await q.query(
    `UPDATE subscription_notifications SET status = $2, error = $3, lease_until = NULL,
       processed_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END
     WHERE notification_id = $1::bigint`,
    [id, status, error],
  );
}

export interface SubscriptionState {
  name: string;
  subscription: string | null;
  topic: string | null;
  status: string | null;
  eventsSinceStart: number;
  lastNotificationAt: string | null;
  gaps: number;
}

interface StateRow {
  name: string;
  subscription: string | null;
  topic: string | null;
  status: string | null;
  events: string;
  last_at: string | null;
  gaps: number;
}

const toState = (r: StateRow): SubscriptionState => ({
  name: r.name,
  subscription: r.subscription,
  topic: r.topic,
  status: r.status,
  eventsSinceStart: Number(r.events),
  lastNotificationAt: r.last_at,
  gaps: r.gaps,
});

const STATE_COLUMNS = `name, subscription, topic, status, events_since_start::text AS events,
  to_char(last_notification_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_at, gaps`;

/** Locks the subscription's row (creating it) for the duration of the caller's transaction. */
export async function lockSubscriptionState(q: Queryable, name: string): Promise<SubscriptionState> {
  await q.query('INSERT INTO subscription_state (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
  const r = await q.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM subscription_state WHERE name = $1 FOR UPDATE`, [
    name,
  ]);
  return toState(r.rows[0] as StateRow);
}

export async function saveSubscriptionState(
  q: Queryable,
  s: {
    name: string;
    subscription: string | null;
    topic: string | null;
    status: string | null;
    events: number;
    gap: boolean;
    statusChecked?: boolean;
  },
): Promise<void> {
  await q.query(
    `UPDATE subscription_state SET subscription = COALESCE($2, subscription), topic = COALESCE($3, topic),
       status = COALESCE($4, status), events_since_start = GREATEST(events_since_start, $5),
       last_notification_at = now(), gaps = gaps + CASE WHEN $6 THEN 1 ELSE 0 END,
       last_status_check_at = CASE WHEN $7 THEN now() ELSE last_status_check_at END
     WHERE name = $1`,
    [s.name, s.subscription, s.topic, s.status, s.events, s.gap, s.statusChecked ?? false],
  );
}

export async function listSubscriptionStates(q: Queryable): Promise<SubscriptionState[]> {
  const r = await q.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM subscription_state ORDER BY name`);
  return r.rows.map(toState);
}

/** Subscriptions silent for longer than the heartbeat allowance (seconds). */
export async function silentSubscriptions(q: Queryable, seconds: number): Promise<SubscriptionState[]> {
  const r = await q.query<StateRow>(
    `SELECT ${STATE_COLUMNS} FROM subscription_state
     WHERE last_notification_at < now() - make_interval(secs => $1)
       AND (last_status_check_at IS NULL OR last_status_check_at < now() - make_interval(secs => $1))
     ORDER BY name`,
    [seconds],
  );
  return r.rows.map(toState);
}

export async function markStatusChecked(q: Queryable, name: string, events: number | undefined): Promise<void> {
  await q.query(
    `UPDATE subscription_state SET last_status_check_at = now(),
       events_since_start = GREATEST(events_since_start, COALESCE($2, events_since_start))
     WHERE name = $1`,
    [name, events ?? null],
  );
}
