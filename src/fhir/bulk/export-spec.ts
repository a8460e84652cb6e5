/**
 * What one $export job exports, fixed at kick-off and stored with the job: the worker rebuilds its
 * queries from this alone, so any instance can run or resume the job.
 */
export type ExportLevel = 'system' | 'patient' | 'group';

export interface ExportSpec {
  level: ExportLevel;
  /** Group exports: the Group. */
  groupId?: string | undefined;
  /** The Patient ids the export is limited to: a Group's members at kick-off, narrowed by `patient`. */
  patientIds?: string[] | undefined;
  /** Resource types in export order; one output file each. */
  types: string[];
  /** Only resources with meta.lastUpdated after this instant (ISO, UTC). */
  since?: string | undefined;
  /** `_elements`: root elements to keep of each resource (`name` or `Type.name`); all when absent. */
  elements?: string[] | undefined;
  /** Per type: search query strings, any of which a resource must match (_typeFilter). */
  typeFilters: Record<string, string[]>;
  /** Parameters ignored under Prefer: handling=lenient, reported in the error file. */
  ignored: string[];
}

export const NDJSON_FORMATS: ReadonlySet<string> = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);

/** Types a plain export leaves out unless asked for by _type: operational, not trial data. */
export const NOT_EXPORTED_BY_DEFAULT: ReadonlySet<string> = new Set(['AuditEvent', 'Subscription']);

export function parseSpec(text: string): ExportSpec {
  return JSON.parse(text) as ExportSpec;
}
