/** Row shapes shared by the store's reads and writes. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  /** The resource's JSON text as served; undefined for a delete. */
  content: string | undefined;
}

export interface VersionRow {
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: string;
  deleted: boolean;
  content: string | null;
}

/** Selects timestamps as FHIR instants with millisecond precision, the form we write into meta. */
export const LAST_UPDATED_SQL = `to_char(last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export function toStoredVersion(row: VersionRow): StoredVersion {
  return {
    resourceType: row.resource_type,
    id: row.id,
    versionId: row.version_id,
    lastUpdated: row.last_updated,
    deleted: row.deleted,
    content: row.content ?? undefined,
  };
}
