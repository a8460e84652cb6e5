-- Results kept aside because they could not be mapped (a site code nobody has mapped yet): kept
-- for an enrolled subject, never lost, replayed by an admin once mappings/ is fixed.
CREATE TABLE dead_letters (
  dead_letter_id bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  resource_type text NOT NULL,
  content text NOT NULL,
  reason text NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
  resolved_at timestamptz,
  resolution text
);
CREATE INDEX dead_letters_open ON dead_letters (dead_letter_id) WHERE status = 'open';
