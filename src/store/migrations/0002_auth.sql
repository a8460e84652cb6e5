-- Access control: the adapter's token-signing key, shared by every instance, and the client
-- assertion ids (jti) already used, so a replayed assertion is refused across restarts and instances.
-- PostgreSQL 15 compatible.

-- The private key is a JWK in the database: anyone who can read this table can mint access tokens.
-- Restrict database access accordingly. Exactly one row is current (the partial unique index), so
-- instances starting together cannot each create their own key.
CREATE TABLE auth_signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  is_current boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX auth_signing_keys_one_current ON auth_signing_keys (is_current) WHERE is_current;

-- A row per accepted client assertion, kept until the assertion would have expired anyway.
CREATE TABLE auth_used_jti (
  client_id text NOT NULL,
  jti text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX auth_used_jti_expires ON auth_used_jti (expires_at);
