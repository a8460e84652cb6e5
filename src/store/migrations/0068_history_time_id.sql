-- Type- and system-level history pages by keyset (last_updated, id, version_id), newest first. With
-- the time alone in the index, every version sharing one timestamp (a bulk load, a transaction)
-- had to be read and sorted for each page; with the id (and version) after it, a page is one index
-- range however large the tie. Same indexes, one more key column each: a write adds no entry.
DROP INDEX resources_type_updated;
CREATE INDEX resources_type_updated ON resources (resource_type, last_updated, id) WHERE NOT deleted;
DROP INDEX resources_deleted_type_updated;
CREATE INDEX resources_deleted_type_updated ON resources (resource_type, last_updated, id) WHERE deleted;
DROP INDEX resource_history_type_updated;
CREATE INDEX resource_history_type_updated ON resource_history (resource_type, last_updated, id, version_id);
