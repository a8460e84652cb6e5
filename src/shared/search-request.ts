/** A parsed FHIR search: what the SQL builder and the Bundle writer work from. */

/** The index table a search parameter's values are kept in (src/fhir/search/search-params.ts). */
export type IndexedParamType = 'token' | 'reference' | 'date' | 'string' | 'number' | 'quantity' | 'uri';

/** What a client asked to see of each resource (src/fhir/search/subsetting.ts). */
export type Subsetting =
  /** Per resource type (or '*' for every type), the root element names asked for. */
  { kind: 'elements'; elements: ReadonlyMap<string, ReadonlySet<string>> } | { kind: 'summary' | 'text' | 'data' };

export interface SearchFilter {
  /** Parameter code, e.g. "code", "_id", "_lastUpdated". */
  code: string;
  type: IndexedParamType | 'id' | 'lastUpdated';
  modifier: string | undefined;
  /** Comma-separated alternatives of one occurrence (OR); several occurrences are ANDed. */
  values: string[];
  /** Allowed target types, for reference parameters. */
  targets: readonly string[];
  /** A reference parameter kept in another parameter's index rows (see StoredAs). */
  storedAs?: StoredAs | undefined;
}

/**
 * A reference parameter whose index rows would be exactly another parameter's rows to some target
 * types, so it has none of its own and is answered from those (src/store/stored-as.ts): R4's
 * `patient` is `subject.where(resolve() is Patient)` on Observation and most clinical types, so its
 * rows would repeat every `subject` row naming a Patient.
 */
export interface StoredAs {
  /** The parameter whose rows are read. */
  param: string;
  /** Target types kept (a reference with no type, an absolute URL, is kept as indexing keeps it). */
  targets: readonly string[];
}

export interface SortKey {
  code: string;
  type: IndexedParamType | 'id' | 'lastUpdated';
  descending: boolean;
}

export interface IncludeSpec {
  /** The type that owns the reference parameter ("Observation" in Observation:subject). */
  sourceType: string;
  param: string;
  targetType: string | undefined;
  iterate: boolean;
  /** The parameter is kept in another's index rows (see StoredAs). */
  storedAs?: StoredAs | undefined;
}

export interface SearchCursor {
  /** created_seq upper bound fixed by the first page, so later inserts never shift pages. */
  bound: string;
  /** Keyset: last created_seq returned (default order; the tie-break of an explicit _sort). */
  after?: string | undefined;
  /** Offset within the bounded result (explicit _sort, cursors written before `keys`). */
  offset?: number | undefined;
  /**
   * Keyset: the sort values of the last entry returned, one per _sort key (null: the entry has no
   * value), or the date that ordered a date-driven page.
   */
  keys?: (string | null)[] | undefined;
  /** Keyset: id of the last entry returned (tie-break of a date-driven page). */
  id?: string | undefined;
}

export interface SearchRequest {
  resourceType: string;
  filters: SearchFilter[];
  /** Matches to leave out whatever the filters say (what a blinded caller may not see). */
  exclusions: SearchFilter[];
  sort: SortKey[];
  count: number;
  includes: IncludeSpec[];
  revincludes: IncludeSpec[];
  /**
   * `_total`: absent (undefined) and `none` count nothing beyond what the first page shows for free
   * (a first page without a next page holds every match); `estimate` takes the planner's estimate;
   * `accurate` counts.
   */
  total: 'none' | 'estimate' | 'accurate' | undefined;
  summaryCount: boolean;
  /** _elements or _summary=true|text|data: what to keep of each match. */
  subsetting?: Subsetting | undefined;
  cursor: SearchCursor | undefined;
  /** Parameters actually applied, in order, for the self link. */
  applied: [string, string][];
}

export function encodeCursor(c: SearchCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(s: string): SearchCursor | undefined {
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Partial<SearchCursor>;
    if (typeof c.bound !== 'string' || !/^\d+$/.test(c.bound)) return undefined;
    if (c.after !== undefined && !(typeof c.after === 'string' && /^\d+$/.test(c.after))) return undefined;
    if (c.offset !== undefined && !(Number.isInteger(c.offset) && c.offset >= 0)) return undefined;
    if (
      c.keys !== undefined &&
      !(
        Array.isArray(c.keys) &&
        c.keys.length <= 16 &&
        c.keys.every((k) => k === null || (typeof k === 'string' && k.length <= 1024))
      )
    )
      return undefined;
    if (c.id !== undefined && !(typeof c.id === 'string' && c.id.length <= 256)) return undefined;
    return { bound: c.bound, after: c.after, offset: c.offset, keys: c.keys, id: c.id };
  } catch {
    return undefined;
  }
}
