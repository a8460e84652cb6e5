/**
 * A quick first pass of @medplum/core's base validation, for the resources that come in by the
 * thousand (a lab feed's Observations). It says "valid" only when @medplum/core would; anything
 * else (invalid, or a shape this pass does not handle) goes to validateResource, which decides and
 * writes the OperationOutcome. Measured on a feed's Observation it costs about a tenth of the full
 * crawl (27 against 230-300 µs).
 *
 * Why it is faster: @medplum/core visits every element of each type's schema, present or not, and
 * builds a typed value with a path string for each. This pass visits the keys the JSON has,
 * against lookup tables built once per type from the same schemas (getDataType), and runs the
 * same invariants: as plain property reads where src/fhir/invariant-fast-path.ts compiles them,
 * otherwise with @medplum/core's own FHIRPath engine and variables, parsed once.
 *
 * The rules mirror the validator of @medplum/core 5.x (null checks, unknown properties, array or
 * single, cardinality, empty values, primitive JSON types, formats and ranges, element invariants
 * of severity error except ele-1, dom-3, org-1 and sdf-19, which it skips). A primitive's extension
 * (`_status`), contained or nested resources, two values of one choice element, and elements with
 * fixed values, patterns or slicing are left to @medplum/core. A parity test holds the verdicts
 * equal over the public corpus and mutations of it.
 */
import {
  evalFhirPathTyped,
  getDataType,
  type InternalSchemaElement,
  type InternalTypeSchema,
  isResourceType,
  parseFhirPath,
  type TypedValue,
  toTypedValue,
} from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { compileElementInvariant } from './invariant-fast-path.ts';

/** The verdict: true only where @medplum/core's validateResource would not throw. */
export type StructureVerdict = 'valid' | 'invalid' | 'undecided';

/**
 * An invariant as @medplum/core evaluates it, and, where the expression is within the compiled
 * subset of src/fhir/invariant-fast-path.ts, as plain property reads (which hand back what they
 * cannot decide, a contained resource for instance, to @medplum/core's engine).
 */
interface Invariant {
  atom: ReturnType<typeof parseFhirPath>;
  compiled: ((value: object) => boolean | undefined) | undefined;
}

interface ElementRule {
  element: InternalSchemaElement;
  /** The FHIR type this JSON key carries (one of a choice element's types, or its only type). */
  type: string;
  /** The element's name in the schema (`value[x]` for every `value<Type>` key). */
  name: string;
  /** The schema of a complex type; undefined for a primitive. */
  schema: (() => TypeRules | undefined) | undefined;
  invariants: Invariant[];
  /** Something this pass leaves to @medplum/core when the element is present. */
  declined: boolean;
}

interface TypeRules {
  byKey: Map<string, ElementRule>;
  /** The names of the elements with a minimum cardinality above zero. */
  requiredNames: string[];
}

// The JSON type of each primitive, as @medplum/core checks it.
const JSON_TYPE: Record<string, 'string' | 'number' | 'boolean'> = {
  base64Binary: 'string',
  boolean: 'boolean',
  canonical: 'string',
  code: 'string',
  date: 'string',
  dateTime: 'string',
  decimal: 'number',
  id: 'string',
  instant: 'string',
  integer: 'number',
  integer64: 'string',
  markdown: 'string',
  oid: 'string',
  positiveInt: 'number',
  string: 'string',
  time: 'string',
  unsignedInt: 'number',
  uri: 'string',
  url: 'string',
  uuid: 'string',
  xhtml: 'string',
  'http://hl7.org/fhirpath/System.String': 'string',
};

// The FHIR R4 regular expressions of the primitive types (http://hl7.org/fhir/R4/datatypes.html).
const YEAR = '(\\d(\\d(\\d[1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const OFFSET = '(Z|[+-]((0\\d|1[0-3]):[0-5]\\d|14:00))';
const FORMAT: Record<string, RegExp> = {
  canonical: /^\S*$/,
  code: /^[^\s]+( [^\s]+)*$/,
  date: new RegExp(`^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2]\\d|3[0-1]))?)?$`),
  dateTime: new RegExp(
    `^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2]\\d|3[0-1])(T([01]\\d|2[0-3])(:[0-5]\\d:([0-5]\\d|60)(\\.\\d{1,9})?)?)?)?(Z|[+-]((0\\d|1[0-3]):[0-5]\\d|14:00)?)?)?$`,
  ),
  id: /^[A-Za-z0-9\-.]{1,64}$/,
  instant: new RegExp(
    `^${YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2]\\d|3[0-1])T([01]\\d|2[0-3]):[0-5]\\d:([0-5]\\d|60)(\\.\\d{1,9})?${OFFSET}$`,
  ),
  markdown: /^[\r\n\t\u0020-\uFFFF]+$/,
  oid: /^urn:oid:[0-2](\.(0|[1-9]\d*))+$/,
  string: /^[\r\n\t\u0020-\uFFFF]+$/,
  time: /^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?$/,
  uri: /^\S*$/,
  url: /^\S*$/,
  uuid: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
};

// Invariants @medplum/core does not evaluate (ele-1 everywhere, and three it cannot).
const SKIPPED_INVARIANTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);
const UCUM = toTypedValue('http://unitsofmeasure.org');
const MAX_STRING = 1024 * 1024;
const MAX_BASE64_BYTES = 1024 * 1024;

class Declined extends Error {}
const DECLINED = new Declined('left to @medplum/core');
class Invalid extends Error {}
const INVALID = new Invalid('invalid');

const rulesByType = new Map<string, TypeRules | undefined>();

/**
 * `contextType`: what the invariant is evaluated on, in the r4 model's terms (a resource or data
 * type, or a backbone element's path), for the compiled form; undefined for a primitive.
 */
function invariantsOf(
  element: { constraints?: InternalSchemaElement['constraints'] },
  contextType: string | undefined,
): Invariant[] {
  return (element.constraints ?? [])
    .filter((c) => c.severity === 'error' && !SKIPPED_INVARIANTS.has(c.key))
    .map((c) => ({
      atom: parseFhirPath(c.expression),
      compiled: contextType ? compileElementInvariant(c.expression, contextType) : undefined,
    }));
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function buildRules(schema: InternalTypeSchema, owner: InternalTypeSchema): TypeRules {
  const byKey = new Map<string, ElementRule>();
  const requiredNames: string[] = [];
  for (const [name, element] of Object.entries(schema.elements)) {
    if (element.min > 0) requiredNames.push(name);
    const choice = name.endsWith('[x]');
    const declined = !!(element.fixed || element.pattern || element.slicing);
    for (const t of element.type) {
      const code = t.code === 'Element' || t.code === 'BackboneElement' ? (element.type[0]?.code as string) : t.code;
      const key = choice ? `${name.slice(0, -3)}${capitalise(code)}` : name;
      const primitive = code in JSON_TYPE;
      const inner = owner.innerTypes.find((i) => i.name === code) ?? schema.innerTypes?.find((i) => i.name === code);
      const invariants = invariantsOf(element, primitive ? undefined : inner ? element.path : code);
      byKey.set(key, {
        element,
        type: code,
        name,
        schema: primitive ? undefined : () => (inner ? innerRules(inner, owner) : rulesFor(code)),
        invariants,
        declined: declined || code === 'Resource' || (!primitive && !inner && isResourceType(code)),
      });
      if (!choice) break;
    }
  }
  return { byKey, requiredNames };
}

const innerCache = new WeakMap<InternalTypeSchema, TypeRules>();

function innerRules(inner: InternalTypeSchema, owner: InternalTypeSchema): TypeRules {
  let rules = innerCache.get(inner);
  if (!rules) {
    rules = buildRules(inner, owner);
    innerCache.set(inner, rules);
  }
  return rules;
}

function rulesFor(type: string): TypeRules | undefined {
  if (!rulesByType.has(type)) {
    let rules: TypeRules | undefined;
    try {
      const schema = getDataType(type);
      rules = buildRules(schema, schema);
    } catch {
      rules = undefined; // a type @medplum/core does not know: its own validator says so
    }
    rulesByType.set(type, rules);
  }
  return rulesByType.get(type);
}

const rootInvariants = new Map<string, Invariant[]>();

interface Walk {
  variables: Record<string, TypedValue>;
}

function daysInMonthOk(s: string): boolean {
  if (s.length < 10) return true;
  const year = Number.parseInt(s.substring(0, 4), 10);
  const month = Number.parseInt(s.substring(5, 7), 10);
  return Number.parseInt(s.substring(8, 10), 10) <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function checkPrimitive(type: string, value: unknown): void {
  const jsonType = JSON_TYPE[type] as string;
  if (typeof value !== jsonType) throw typeof value === 'object' && value !== null ? DECLINED : INVALID;
  if (jsonType === 'string') {
    const s = value as string;
    if (!s.trim() || s.length > MAX_STRING) throw INVALID;
    if (type === 'base64Binary') {
      const padding = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
      if (s.length % 4 !== 0 || !/^[A-Za-z\d+/]+$/.test(padding ? s.slice(0, -padding) : s)) throw INVALID;
      if (Math.floor((s.length * 3) / 4) - padding > MAX_BASE64_BYTES) throw INVALID;
      return;
    }
    const format = FORMAT[type];
    if (format && !format.test(s)) throw INVALID;
    if ((type === 'date' || type === 'dateTime' || type === 'instant') && !daysInMonthOk(s)) throw INVALID;
  } else if (jsonType === 'number') {
    const n = value as number;
    if (!Number.isFinite(n)) throw INVALID;
    if (type === 'integer' || type === 'positiveInt' || type === 'unsignedInt') {
      if (!Number.isInteger(n) || n > 2147483647) throw INVALID;
      if (n < (type === 'integer' ? -2147483648 : type === 'positiveInt' ? 1 : 0)) throw INVALID;
    }
  }
}

function checkInvariants(walk: Walk, invariants: Invariant[], value: TypedValue): void {
  if (invariants.length === 0) return;
  let variables: Record<string, TypedValue> | undefined;
  for (const inv of invariants) {
    const quick = inv.compiled?.(value.value as object);
    if (quick === true) continue;
    if (quick === false) throw INVALID;
    variables ??= { ...walk.variables, '%context': value };
    let result: TypedValue[];
    try {
      result = evalFhirPathTyped(inv.atom, [value], variables);
    } catch {
      throw INVALID; // @medplum/core reports an invariant it cannot evaluate as an error
    }
    if (result.length !== 1 || result[0]?.value !== true) throw INVALID;
  }
}

function checkObject(walk: Walk, value: Record<string, unknown>, rules: TypeRules): void {
  const seen = new Set<string>();
  for (const key of Object.keys(value)) {
    if (key === 'resourceType') continue;
    if (key.charCodeAt(0) === 95 /* _ */) throw DECLINED;
    const rule = rules.byKey.get(key);
    if (!rule) throw INVALID;
    if (seen.has(rule.name)) throw DECLINED; // two values of one choice element
    seen.add(rule.name);
    if (rule.declined) throw DECLINED;
    checkElement(walk, rule, value[key]);
  }
  for (let i = 0; i < rules.requiredNames.length; i++) {
    if (!seen.has(rules.requiredNames[i] as string)) throw INVALID;
  }
}

function checkElement(walk: Walk, rule: ElementRule, v: unknown): void {
  if (v === null || v === undefined) throw INVALID;
  const { element } = rule;
  let items: unknown[];
  if (element.isArray) {
    if (!Array.isArray(v) || v.length === 0) throw INVALID;
    items = v;
  } else {
    if (Array.isArray(v)) throw INVALID;
    items = [v];
  }
  if (items.length < element.min || items.length > element.max) throw INVALID;
  for (const item of items) {
    if (item === null || item === undefined) throw INVALID;
    if (rule.schema === undefined) {
      checkPrimitive(rule.type, item);
    } else {
      if (typeof item !== 'object' || Array.isArray(item)) throw DECLINED;
      if (Object.keys(item).length === 0) throw INVALID;
      const rules = rule.schema();
      if (!rules) throw DECLINED;
      checkObject(walk, item as Record<string, unknown>, rules);
    }
    checkInvariants(walk, rule.invariants, { type: rule.type, value: item });
  }
}

/** The verdict of @medplum/core's base validation (validateResource without a profile), quickly. */
export function quickStructureCheck(resource: Resource): StructureVerdict {
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type !== 'string' || !isResourceType(type)) return 'invalid';
  const rules = rulesFor(type);
  if (!rules) return 'undecided';
  let invariants = rootInvariants.get(type);
  if (!invariants) {
    invariants = invariantsOf(getDataType(type), type);
    rootInvariants.set(type, invariants);
  }
  const root: TypedValue = { type, value: resource };
  const walk: Walk = { variables: { '%ucum': UCUM, '%resource': root, '%rootResource': root } };
  try {
    checkObject(walk, resource as unknown as Record<string, unknown>, rules);
    checkInvariants(walk, invariants, root);
    return 'valid';
  } catch (err) {
    if (err === INVALID) return 'invalid';
    if (err === DECLINED) return 'undecided';
    throw err;
  }
}

// Names JavaScript objects inherit (`toString`, `valueOf`, `constructor`, `__proto__`…): no FHIR
// element has one, and @medplum/core's validator reads them through the prototype, so it accepts
// such a key as an element or fails on it (`{"valueOf": ""}` where a string belongs threw a TypeError).
const INHERITED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

export interface ShapeProblem {
  expression: string;
  text: string;
}

function inheritedNameIn(value: unknown, path: string): ShapeProblem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = inheritedNameIn(item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, v] of Object.entries(value)) {
    if (INHERITED_NAMES.has(key)) return { expression: `${path}.${key}`, text: `Invalid property "${key}"` };
    const found = inheritedNameIn(v, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

function shapeIn(value: Record<string, unknown>, rules: TypeRules, path: string): ShapeProblem | undefined {
  for (const [key, v] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (INHERITED_NAMES.has(key)) return { expression: at, text: `Invalid property "${key}"` };
    const rule = rules.byKey.get(key);
    const items = Array.isArray(v) ? v : [v];
    for (const [i, item] of items.entries()) {
      const itemAt = Array.isArray(v) ? `${at}[${i}]` : at;
      if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
      let found: ShapeProblem | undefined;
      if (rule && rule.schema === undefined) {
        found = {
          expression: itemAt,
          text: `${rule.element.path} must be a JSON ${JSON_TYPE[rule.type]}, not an object`,
        };
      } else {
        const own = (item as { resourceType?: unknown }).resourceType;
        const inner =
          typeof own === 'string' && isResourceType(own) ? rulesFor(own) : rule ? rule.schema?.() : undefined;
        found = inner
          ? shapeIn(item as Record<string, unknown>, inner, itemAt)
          : inheritedNameIn(item as object, itemAt);
      }
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * What @medplum/core's validator lets through in a resource's JSON shape: an object where a
 * primitive belongs (`"text": {"id": "x"}` and `"text": {}` pass it) and keys named like an object's
 * inherited members. Walks the whole resource, contained ones too; undefined when neither is there.
 */
export function jsonShapeProblem(resource: Resource): ShapeProblem | undefined {
  const type = (resource as { resourceType?: unknown }).resourceType;
  const rules = typeof type === 'string' && isResourceType(type) ? rulesFor(type) : undefined;
  const root = typeof type === 'string' ? type : 'Resource';
  return rules ? shapeIn(resource as unknown as Record<string, unknown>, rules, root) : inheritedNameIn(resource, root);
}
