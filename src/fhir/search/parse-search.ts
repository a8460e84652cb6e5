/**
 * Parses search parameters (query string or form body) into a SearchRequest. Unknown or unsupported
 * parameters are dropped under `Prefer: handling=lenient` (the default) and rejected under strict.
 */
import { badRequest, fail, tooCostly } from '../../shared/outcomes.ts';
import {
  decodeCursor,
  type IncludeSpec,
  type SearchFilter,
  type SearchRequest,
  type SortKey,
  type StoredAs,
} from '../../shared/search-request.ts';
import { searchParamsFor } from './search-params.ts';
import { elementsOrFail, summarySubsetting } from './subsetting.ts';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

/** Result parameters we accept but that do not change the result (format is always JSON). */
const IGNORED_RESULT_PARAMS = new Set(['_format', '_pretty']);

const MODIFIERS: Record<string, readonly string[]> = {
  token: ['missing', 'not'],
  uri: ['missing', 'not'],
  reference: ['missing'],
  date: ['missing'],
  string: ['missing', 'exact', 'contains'],
  number: ['missing'],
  quantity: ['missing'],
  id: ['not'],
  lastUpdated: [],
};

export type SearchParamsInput = Iterable<[string, string]>;

/** What one search may ask for, so that no admissible search is slow (the store cannot stop a query on PGlite). */
export interface SearchLimits {
  /** Parameters (name=value pairs) in one request. */
  maxParameters: number;
  /** Comma-separated values over all parameters. */
  maxValues: number;
}

export const DEFAULT_SEARCH_LIMITS: SearchLimits = { maxParameters: 100, maxValues: 1000 };

export function parseSearch(
  resourceType: string,
  input: SearchParamsInput,
  strict: boolean,
  limits: SearchLimits = DEFAULT_SEARCH_LIMITS,
  /** Under lenient handling, receives each parameter dropped (its name as given) and why. */
  onIgnored?: (rawName: string, why: string) => void,
): SearchRequest {
  const defs = searchParamsFor(resourceType);
  const pairs = [...input];
  if (pairs.length > limits.maxParameters) {
    fail(
      tooCostly(
        `A search may have at most ${limits.maxParameters} parameters (this one has ${pairs.length}); split it or combine values with commas`,
      ),
    );
  }
  let values = 0;
  for (const [, value] of pairs) values += value.split(/(?<!\\),/).length;
  if (values > limits.maxValues) {
    fail(tooCostly(`A search may name at most ${limits.maxValues} values in all (this one names ${values})`));
  }
  const req: SearchRequest = {
    resourceType,
    filters: [],
    exclusions: [],
    sort: [],
    count: DEFAULT_COUNT,
    includes: [],
    revincludes: [],
    total: undefined,
    summaryCount: false,
    cursor: undefined,
    applied: [],
  };
  for (const [rawName, value] of pairs) {
    const unknown = (name: string, why: string): void => {
      if (strict) fail(badRequest(`Search parameter ${name} ${why}`, name));
      onIgnored?.(rawName, `${name} ${why}`);
    };
    const [name = '', modifier] = rawName.split(':', 2) as [string, string | undefined];
    switch (name) {
      case '_count': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) fail(badRequest(`_count must be a non-negative integer`, '_count'));
        req.count = Math.min(n, MAX_COUNT);
        req.applied.push(['_count', String(req.count)]);
        continue;
      }
      case '_cursor': {
        const c = decodeCursor(value);
        if (!c) fail(badRequest('Invalid or expired paging cursor', '_cursor'));
        req.cursor = c;
        continue;
      }
      case '_sort': {
        for (const part of value.split(',')) {
          const descending = part.startsWith('-');
          const code = descending ? part.slice(1) : part;
          const key = sortKeyFor(resourceType, code, descending);
          if (key) req.sort.push(key);
          else if (strict) fail(badRequest(`Cannot sort ${resourceType} by ${code}`, '_sort'));
        }
        if (req.sort.length > 0) {
          req.applied.push(['_sort', req.sort.map((s) => (s.descending ? '-' : '') + s.code).join(',')]);
        }
        continue;
      }
      case '_total':
        if (value === 'none' || value === 'estimate' || value === 'accurate') {
          req.total = value;
          req.applied.push(['_total', value]);
        } else unknown('_total', `value ${value} is not supported`);
        continue;
      case '_summary': {
        const subsetting = summarySubsetting(value);
        if (value === 'count') {
          req.summaryCount = true;
          req.applied.push(['_summary', 'count']);
        } else if (subsetting) {
          req.subsetting = subsetting;
          req.applied.push(['_summary', value]);
        } else if (value !== 'false') unknown('_summary', `=${value} is not supported`);
        continue;
      }
      case '_elements': {
        // A malformed list is the client's mistake whatever the handling: 400, as for _count.
        req.subsetting = elementsOrFail([value]);
        req.applied.push(['_elements', value]);
        continue;
      }
      case '_include':
      case '_revinclude': {
        const spec = parseInclude(value, modifier === 'iterate');
        if (!spec) {
          unknown(rawName, `value ${value} is not a known reference parameter`);
          continue;
        }
        (name === '_include' ? req.includes : req.revincludes).push(spec);
        req.applied.push([rawName, value]);
        continue;
      }
      case '_id':
        req.filters.push(filter('_id', 'id', modifier, value, []));
        req.applied.push([rawName, value]);
        continue;
      case '_lastUpdated':
        req.filters.push(filter('_lastUpdated', 'lastUpdated', modifier, value, []));
        req.applied.push([rawName, value]);
        continue;
    }
    if (IGNORED_RESULT_PARAMS.has(name)) continue;
    const def = defs.get(name);
    if (!def) {
      unknown(name, `is not supported for ${resourceType}`);
      continue;
    }
    let mod = modifier;
    let targets = def.targets;
    if (def.type === 'reference' && mod && mod !== 'missing') {
      // subject:Patient=123 restricts the target type.
      if (!def.targets.includes(mod) && def.targets.length > 0) {
        unknown(rawName, `names a target type ${mod} that ${name} cannot reference`);
        continue;
      }
      targets = [mod];
      mod = undefined;
    }
    if (mod && !(MODIFIERS[def.type] ?? []).includes(mod)) {
      unknown(rawName, `uses modifier :${mod}, which is not supported`);
      continue;
    }
    req.filters.push(filter(name, def.type, mod, value, targets, def.storedAs));
    req.applied.push([rawName, value]);
  }
  return req;
}

/** A filter built by the server itself (not from the query), e.g. a masking exclusion. */
export function serverFilter(resourceType: string, code: string, value: string): SearchFilter | undefined {
  const def = searchParamsFor(resourceType).get(code);
  return def ? filter(code, def.type, undefined, value, def.targets, def.storedAs) : undefined;
}

function filter(
  code: string,
  type: SearchFilter['type'],
  modifier: string | undefined,
  value: string,
  targets: readonly string[],
  storedAs?: StoredAs,
): SearchFilter {
  // FHIR escapes a literal comma as "\,".
  const values = value.split(/(?<!\\),/).map((v) => v.replace(/\\,/g, ','));
  if (modifier === 'missing' && value !== 'true' && value !== 'false') {
    fail(badRequest(`${code}:missing must be true or false`, code));
  }
  return storedAs ? { code, type, modifier, values, targets, storedAs } : { code, type, modifier, values, targets };
}

function sortKeyFor(resourceType: string, code: string, descending: boolean): SortKey | undefined {
  if (code === '_lastUpdated') return { code, type: 'lastUpdated', descending };
  if (code === '_id') return { code, type: 'id', descending };
  const def = searchParamsFor(resourceType).get(code);
  if (!def || def.type === 'reference') return undefined;
  return { code, type: def.type, descending };
}

function parseInclude(value: string, iterate: boolean): IncludeSpec | undefined {
  const [sourceType, param, targetType] = value.split(':');
  if (!sourceType || !param) return undefined;
  const def = searchParamsFor(sourceType).get(param);
  if (def?.type !== 'reference') return undefined;
  if (targetType && def.targets.length > 0 && !def.targets.includes(targetType)) return undefined;
  const spec: IncludeSpec = { sourceType, param, targetType: targetType || undefined, iterate };
  if (def.storedAs) spec.storedAs = def.storedAs;
  return spec;
}
