-- A dead letter whose replay fails stays open: how many replays it has failed, and why the last
-- one did, so an admin sees what still has to be fixed (src/ingest/replay-dead-letters.ts).
ALTER TABLE dead_letters ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN last_error text;
ALTER TABLE dead_letters ADD COLUMN last_attempt_at timestamptz;
