-- Write-back outbox: one row per upstream resource, keyed by its business identifier, holding the
-- latest version to deliver. Enqueueing a newer version replaces the content in place (superseded
-- versions are coalesced, never sent), and `seq` tells a worker whether what it delivered is still
-- the latest. Rows are claimed with FOR UPDATE SKIP LOCKED and a lease, so one resource is never
-- in flight twice and upstream sees its versions in order.
CREATE TABLE outbox (
  outbox_id bigserial PRIMARY KEY,
  resource_type text NOT NULL,
  identifier_system text NOT NULL,
  identifier_value text NOT NULL,
  resource_id text NOT NULL,
  version_id bigint NOT NULL,
  operation text NOT NULL CHECK (operation IN ('upsert', 'retract')),
  content text,
  seq bigint NOT NULL DEFAULT 1,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead', 'discarded')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
  lease_until timestamptz,
  pending_since timestamptz DEFAULT now(),
  enqueued_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  delivered_version bigint,
  deliveries integer NOT NULL DEFAULT 0,
  last_status integer,
  last_error text,
  upstream_outcome text,
  resolution text,
  UNIQUE (resource_type, identifier_system, identifier_value)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, outbox_id) WHERE status = 'pending';
CREATE INDEX outbox_dead ON outbox (outbox_id) WHERE status = 'dead';
