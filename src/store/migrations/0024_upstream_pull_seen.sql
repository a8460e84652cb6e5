-- The upstream results already fed whose meta.lastUpdated is the cursor itself ("Type/id/version").
-- The next pull asks `_lastUpdated=ge<cursor>`, so that results sharing the cursor's instant are
-- never missed; those it has fed already are then skipped instead of fed again as duplicates.
ALTER TABLE upstream_pull_cursors ADD COLUMN seen_at_cursor text[] NOT NULL DEFAULT '{}';
