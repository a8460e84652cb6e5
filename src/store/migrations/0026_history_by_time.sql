-- Type- and system-level history (_history, newest first): every version of a type by time. Current
-- versions that are not deleted are already indexed by time (resources_type_updated). These two
-- cover the rest without adding to a create's cost: superseded versions (written on update and
-- delete only) and current deletion markers.
CREATE INDEX resource_history_type_updated ON resource_history (resource_type, last_updated);
CREATE INDEX resources_deleted_type_updated ON resources (resource_type, last_updated) WHERE deleted;
