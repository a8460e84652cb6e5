/**
 * Turns a resource into the rows of the search index tables, using the type's indexed parameters.
 * Values come from FHIRPath as plain JSON; their FHIR type is recognised by shape.
 */
import type { Resource } from '@medplum/fhirtypes';
import { parseDateRange, periodRange } from '../../shared/date-range.ts';
import { type IndexRows, normaliseReference, normaliseString } from '../../shared/index-rows.ts';
import { searchParamsFor } from './search-params.ts';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function addToken(rows: IndexRows, param: string, value: unknown): void {
  if (typeof value === 'string') rows.tokens.push([param, null, value]);
  else if (typeof value === 'boolean') rows.tokens.push([param, null, String(value)]);
  else if (isObject(value)) {
    if (Array.isArray(value.coding)) {
      for (const c of value.coding) addToken(rows, param, c);
    } else if (typeof value.code === 'string') {
      rows.tokens.push([param, typeof value.system === 'string' ? value.system : null, value.code]);
    } else if (typeof value.value === 'string') {
      // Identifier and ContactPoint share the shape {system?, value}.
      rows.tokens.push([param, typeof value.system === 'string' ? value.system : null, value.value]);
    }
  }
}

function addString(rows: IndexRows, param: string, value: unknown): void {
  if (typeof value === 'string') {
    rows.strings.push([param, normaliseString(value)]);
  } else if (isObject(value)) {
    // HumanName, Address and the like: index every string part and the whole.
    const parts: string[] = [];
    for (const v of Object.values(value)) {
      if (typeof v === 'string') parts.push(v);
      else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') parts.push(x);
    }
    for (const p of parts) rows.strings.push([param, normaliseString(p)]);
    if (parts.length > 1) rows.strings.push([param, normaliseString(parts.join(' '))]);
  }
}

function addDate(rows: IndexRows, param: string, value: unknown): void {
  if (typeof value === 'string') {
    const r = parseDateRange(value);
    if (r) rows.dates.push([param, r.lo, r.hi]);
  } else if (isObject(value)) {
    if ('start' in value || 'end' in value) {
      const r = periodRange(value.start as string | undefined, value.end as string | undefined);
      if (r) rows.dates.push([param, r.lo, r.hi]);
    } else if (Array.isArray(value.event)) {
      for (const e of value.event) addDate(rows, param, e);
    }
  }
}

function addNumber(rows: IndexRows, param: string, value: unknown): void {
  if (typeof value === 'number') rows.numbers.push([param, value, null, null]);
  else if (isObject(value) && typeof value.value === 'number') {
    const code = typeof value.code === 'string' ? value.code : typeof value.unit === 'string' ? value.unit : null;
    rows.numbers.push([param, value.value, typeof value.system === 'string' ? value.system : null, code]);
  }
}

export function extractIndexRows(resource: Resource, baseUrl: string): IndexRows {
  const rows: IndexRows = { tokens: [], references: [], dates: [], strings: [], numbers: [] };
  for (const def of searchParamsFor(resource.resourceType).values()) {
    // Kept in another parameter's rows (search-params.ts, storedAsFor).
    if (def.storedAs) continue;
    let values: unknown[];
    try {
      values = def.evaluate(resource);
    } catch {
      // A value FHIRPath cannot evaluate is not indexable; validation reports real problems.
      continue;
    }
    for (const value of values) {
      switch (def.type) {
        case 'token':
          addToken(rows, def.code, value);
          break;
        case 'uri':
          if (typeof value === 'string') rows.tokens.push([def.code, null, value]);
          break;
        case 'reference':
          if (isObject(value) && typeof value.reference === 'string') {
            const target = normaliseReference(value.reference, baseUrl);
            const type = target.includes('://') ? undefined : target.split('/')[0];
            if (def.targets.length === 0 || type === undefined || def.targets.includes(type)) {
              rows.references.push([def.code, target]);
            }
          } else if (typeof value === 'string') {
            rows.references.push([def.code, normaliseReference(value, baseUrl)]);
          }
          break;
        case 'date':
          addDate(rows, def.code, value);
          break;
        case 'string':
          addString(rows, def.code, value);
          break;
        case 'number':
        case 'quantity':
          addNumber(rows, def.code, value);
          break;
      }
    }
  }
  return rows;
}
