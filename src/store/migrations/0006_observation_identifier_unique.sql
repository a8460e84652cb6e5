-- A lab result's business identifier (system|value) names one Observation: a re-delivered result
-- must update it, never become a second copy. The index lets the single-POST path write
-- optimistically in one statement and fall back to lookup-and-update only when it collides.
CREATE UNIQUE INDEX sp_token_observation_identifier ON sp_token (system, code)
  WHERE resource_type = 'Observation' AND param = 'identifier' AND system IS NOT NULL;
