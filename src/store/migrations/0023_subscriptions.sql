-- Subscription notifications (R4 Backport IG): answered as soon as they are stored here, processed
-- from this queue (claimed with SKIP LOCKED); and per subscription the event count seen so far, to
-- notice gaps and missed heartbeats.
CREATE TABLE subscription_notifications (
  notification_id bigserial PRIMARY KEY,
  name text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  content text NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processed', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  lease_until timestamptz,
  processed_at timestamptz,
  error text
);
CREATE INDEX subscription_notifications_queued ON subscription_notifications (notification_id)
  WHERE status = 'queued';

CREATE TABLE subscription_state (
  name text PRIMARY KEY,
  subscription text,
  topic text,
  status text,
  events_since_start bigint NOT NULL DEFAULT 0,
  last_notification_at timestamptz,
  gaps integer NOT NULL DEFAULT 0,
  last_status_check_at timestamptz
);
