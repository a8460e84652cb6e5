/**
 * Reads a $export kick-off (query string, or a Parameters body for POST) into one list of
 * name/value pairs, then validates it (Bulk Data IG 2.0 export.html#query-parameters). Unsupported
 * parameters are a 400 unless the client sent Prefer: handling=lenient, in which case they are
 * ignored and reported in the manifest's error file.
 */
import type { Parameters } from '@medplum/fhirtypes';
import { parseDateRange } from '../../shared/date-range.ts';
import { badRequest, fail } from '../../shared/outcomes.ts';
import { isSupportedResourceType } from '../../shared/resource-types.ts';
import { elementsOrFail } from '../search/subsetting.ts';
import { NDJSON_FORMATS } from './export-spec.ts';

export interface KickoffParams {
  types: string[] | undefined;
  since: string | undefined;
  typeFilters: Record<string, string[]>;
  /** `patient`: the Patient ids the export is limited to (Patient and Group level). */
  patients: string[] | undefined;
  /** `_elements`: the root elements to keep (`name` or `Type.name`), as given. */
  elements: string[] | undefined;
  ignored: string[];
}

/** Defined by the IG, refused by this server (400), or reported as ignored under Prefer: handling=lenient. */
const UNSUPPORTED = new Set(['includeAssociatedData', 'organizeOutputBy', 'allowPartialManifests']);

export function pairsFromParameters(body: unknown): [string, string][] {
  const p = body as Parameters | undefined;
  if (p?.resourceType !== 'Parameters') fail(badRequest('A POST kick-off needs a Parameters resource body'));
  const pairs: [string, string][] = [];
  for (const param of p.parameter ?? []) {
    if (!param.name) fail(badRequest('Every parameter needs a name'));
    const value =
      param.valueString ??
      param.valueCode ??
      param.valueInstant ??
      param.valueDateTime ??
      param.valueUri ??
      param.valueBoolean?.toString() ??
      (param.valueReference?.reference as string | undefined);
    if (value === undefined) {
      pairs.push([param.name, '']);
      continue;
    }
    pairs.push([param.name, value]);
  }
  return pairs;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function parseKickoff(pairs: Iterable<[string, string]>, lenient: boolean): KickoffParams {
  const out: KickoffParams = {
    types: undefined,
    since: undefined,
    typeFilters: {},
    patients: undefined,
    elements: undefined,
    ignored: [],
  };
  const unsupported = (name: string, why: string): void => {
    if (!lenient) fail(badRequest(`${name}: ${why}`, name));
    out.ignored.push(`${name}: ${why}; ignored (Prefer: handling=lenient)`);
  };
  for (const [name, value] of pairs) {
    switch (name) {
      case '_outputFormat':
        if (!NDJSON_FORMATS.has(value)) {
          fail(badRequest(`_outputFormat ${value} is not supported; use application/fhir+ndjson`, '_outputFormat'));
        }
        continue;
      case '_type':
        for (const t of splitList(value)) {
          if (!isSupportedResourceType(t)) {
            unsupported('_type', `resource type ${t} is not supported by this server`);
            continue;
          }
          out.types ??= [];
          if (!out.types.includes(t)) out.types.push(t);
        }
        continue;
      case '_since': {
        const range = /T/.test(value) ? parseDateRange(value) : undefined;
        if (!range) fail(badRequest(`_since must be a FHIR instant, got ${value}`, '_since'));
        if (out.since !== undefined) fail(badRequest('_since may be given once', '_since'));
        out.since = range.lo;
        continue;
      }
      case '_elements': {
        elementsOrFail([value]);
        out.elements = [...(out.elements ?? []), ...splitList(value)];
        continue;
      }
      case 'patient':
        // A Parameters body gives one valueReference per patient; a query string may list several.
        for (const ref of splitList(value)) {
          const id = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref)?.[1];
          if (!id)
            fail(badRequest(`patient must reference a Patient (Patient/id), got ${ref || 'nothing'}`, 'patient'));
          out.patients ??= [];
          if (!out.patients.includes(id)) out.patients.push(id);
        }
        if (!out.patients) fail(badRequest('patient must reference a Patient (Patient/id)', 'patient'));
        continue;
      case '_typeFilter':
        // Repeated parameters and comma-joined lists mean the same (export.html#query-parameters).
        for (const filter of value.split(',')) addTypeFilter(out, decodeFilter(filter.trim()));
        continue;
      default:
        unsupported(name, UNSUPPORTED.has(name) ? 'is not supported by this server' : 'is not a $export parameter');
    }
  }
  return out;
}

function decodeFilter(raw: string): string {
  // Clients URL-encode each filter; a filter still containing %xx was encoded once more.
  try {
    return raw.includes('?') ? raw : decodeURIComponent(raw);
  } catch {
    fail(badRequest(`_typeFilter ${raw} is not URL-encoded correctly`, '_typeFilter'));
  }
}

function addTypeFilter(out: KickoffParams, filter: string): void {
  const q = filter.indexOf('?');
  const type = q < 0 ? '' : filter.slice(0, q);
  if (!isSupportedResourceType(type) || q === filter.length - 1) {
    fail(badRequest(`_typeFilter ${filter} must look like Type?param=value`, '_typeFilter'));
  }
  const query = new URLSearchParams(filter.slice(q + 1));
  for (const key of query.keys()) {
    const base = key.split(':')[0] ?? '';
    if (['_include', '_revinclude', '_sort', '_count', '_elements', '_summary'].includes(base)) {
      fail(badRequest(`_typeFilter may not use ${base}`, '_typeFilter'));
    }
  }
  const list = out.typeFilters[type] ?? [];
  list.push(filter.slice(q + 1));
  out.typeFilters[type] = list;
}
