-- CDS Hooks feedback: what clinicians did with a card (accepted, overridden and why).
CREATE TABLE cds_feedback (
  id bigserial PRIMARY KEY,
  service_id text NOT NULL,
  issuer text NOT NULL,
  card text NOT NULL,
  outcome text NOT NULL,
  override_reason text,
  outcome_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
