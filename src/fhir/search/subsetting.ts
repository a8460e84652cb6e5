/**
 * What a client asked to see of each resource: `_elements` (search.html#elements, and the Bulk Data
 * kick-off parameter) or `_summary` = true, text or data (search.html#summary). Root elements only,
 * as both specifications say. A subsetted resource always keeps what FHIR says it must: resourceType,
 * id, meta, the modifier elements `implicitRules` and `modifierExtension`, and every mandatory
 * element of its type; it gets the SUBSETTED tag so that nobody writes it back as if complete.
 */
import { getDataType } from '@medplum/core';
import type { Coding, Resource } from '@medplum/fhirtypes';
import { badRequest, fail } from '../../shared/outcomes.ts';
import type { Subsetting } from '../../shared/search-request.ts';
import { loadFhirDefinitions } from '../definitions.ts';

/** http://hl7.org/fhir/R4/search.html#summary: the tag a subsetted resource carries. */
export const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

const ALWAYS = ['resourceType', 'id', 'meta', 'implicitRules', 'modifierExtension'];

/**
 * `_elements` values: `name` or `Type.name`, comma-separated; `invalid` names the first item that
 * is not a root element name in form (the caller answers 400).
 */
export function parseElements(values: readonly string[]): Subsetting | { invalid: string } {
  const elements = new Map<string, Set<string>>();
  for (const value of values) {
    for (const raw of value.split(',')) {
      const item = raw.trim();
      if (!item) continue;
      const m = /^(?:([A-Z][A-Za-z]+)\.)?([a-z][A-Za-z0-9]*)$/.exec(item);
      if (!m) return { invalid: item };
      const type = m[1] ?? '*';
      const names = elements.get(type) ?? new Set<string>();
      names.add(m[2] as string);
      elements.set(type, names);
    }
  }
  return { kind: 'elements', elements };
}

/** `_elements` as a request gives it: a 400 OperationOutcome naming the first item that is not a root element name. */
export function elementsOrFail(values: readonly string[]): Subsetting {
  const parsed = parseElements(values);
  if ('invalid' in parsed) fail(badRequest(`_elements: ${parsed.invalid} is not a root element name`, '_elements'));
  return parsed;
}

/** `_summary` = true, text or data as a subsetting; undefined for any other value (count, false…). */
export function summarySubsetting(value: string | null): Subsetting | undefined {
  if (value === 'true') return { kind: 'summary' };
  return value === 'text' || value === 'data' ? { kind: value } : undefined;
}

interface TypeShape {
  /** JSON property (valueQuantity, _status) → root element name (value, status). */
  rootOf: Map<string, string>;
  mandatory: ReadonlySet<string>;
  summary: ReadonlySet<string>;
}

const shapes = new Map<string, TypeShape | undefined>();

function shapeOf(type: string): TypeShape | undefined {
  if (shapes.has(type)) return shapes.get(type);
  loadFhirDefinitions();
  let shape: TypeShape | undefined;
  try {
    const schema = getDataType(type);
    const rootOf = new Map<string, string>();
    for (const [key, element] of Object.entries(schema.elements)) {
      if (key.includes('.')) continue;
      if (key.endsWith('[x]')) {
        const base = key.slice(0, -3);
        for (const t of element.type) {
          const name = `${base}${t.code.charAt(0).toUpperCase()}${t.code.slice(1)}`;
          rootOf.set(name, base).set(`_${name}`, base);
        }
      } else rootOf.set(key, key).set(`_${key}`, key);
    }
    shape = {
      rootOf,
      mandatory: schema.mandatoryProperties ?? new Set(),
      summary: schema.summaryProperties ?? new Set(),
    };
  } catch {
    shape = undefined;
  }
  shapes.set(type, shape);
  return shape;
}

/** Which root elements `s` keeps of a resource of this type. */
function keeps(s: Subsetting, shape: TypeShape, type: string): (root: string) => boolean {
  switch (s.kind) {
    case 'elements': {
      const asked = new Set([...(s.elements.get('*') ?? []), ...(s.elements.get(type) ?? [])]);
      return (root) => ALWAYS.includes(root) || shape.mandatory.has(root) || asked.has(root);
    }
    case 'summary':
      return (root) => ALWAYS.includes(root) || shape.mandatory.has(root) || shape.summary.has(root);
    case 'text':
      return (root) => ALWAYS.includes(root) || shape.mandatory.has(root) || root === 'text';
    case 'data':
      return (root) => root !== 'text';
  }
}

/** The resource as the client asked to see it, tagged SUBSETTED when anything was left out. */
export function subsetResource<T extends Resource>(resource: T, s: Subsetting): T {
  const shape = shapeOf(resource.resourceType);
  if (!shape) return resource;
  const keep = keeps(s, shape, resource.resourceType);
  const out: Record<string, unknown> = {};
  let dropped = false;
  for (const [key, value] of Object.entries(resource)) {
    if (keep(shape.rootOf.get(key) ?? key)) out[key] = value;
    else dropped = true;
  }
  if (!dropped) return resource;
  const meta = resource.meta ?? {};
  const tags = meta.tag ?? [];
  if (!tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) {
    out.meta = { ...meta, tag: [...tags, SUBSETTED] };
  }
  return out as T;
}

/** The same on stored JSON text (search pages and export files hold text, not objects). */
export function subsetText(content: string, s: Subsetting): string {
  const resource = JSON.parse(content) as Resource;
  const subset = subsetResource(resource, s);
  return subset === resource ? content : JSON.stringify(subset);
}
