-- The current version lives only in `resources`; `resource_history` holds superseded versions,
-- copied there when a resource is updated or deleted. A create (the hot path) then writes its
-- content once instead of twice.
ALTER TABLE resources ADD COLUMN method text NOT NULL DEFAULT 'POST';
DELETE FROM resource_history h
  USING resources r
  WHERE h.resource_type = r.resource_type AND h.id = r.id AND h.version_id = r.version_id;
