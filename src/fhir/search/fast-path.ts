/**
 * A direct property walk for search parameter expressions that are plain element paths
 * (`Observation.code`, `Observation.subject`) or an extension's value: the same values fhirpath.js
 * returns, a tenth of the cost, on the hot path of every write (index extraction); also a choice
 * element at the top of a resource (effective[x]), its ofType() narrowing, and unions of these.
 * Anything else (functions, deeper choices) stays with fhirpath.js; a parity test holds the two
 * equal over the public corpus.
 */
import r4 from 'fhirpath/fhir-context/r4/index.js';

const PLAIN = /^([A-Z][A-Za-z]+)((?:\.[a-z][A-Za-z0-9]*)+)$/;
const EXTENSION_VALUE = /^([A-Z][A-Za-z]+)\.extension\('([^']+)'\)\.value$/;
const choiceTypePaths = (r4 as { choiceTypePaths: Record<string, unknown> }).choiceTypePaths;
const pathsDefinedElsewhere = (r4 as { pathsDefinedElsewhere: Record<string, string> }).pathsDefinedElsewhere;

function step(values: readonly unknown[], key: string): unknown[] {
  const out: unknown[] = [];
  for (const v of values) {
    if (v === null || typeof v !== 'object') continue;
    const next = (v as Record<string, unknown>)[key];
    if (next === undefined || next === null) continue;
    if (Array.isArray(next)) {
      for (const n of next) if (n !== null && n !== undefined) out.push(n);
    } else out.push(next);
  }
  return out;
}

const OF_TYPE = /^([A-Z][A-Za-z]+)\.([a-z][A-Za-z0-9]*)\.ofType\(([A-Z][A-Za-z]*)\)$/;

/** `Type.elem` where elem is a choice element (effective[x]): every present elem<Type>. */
function choiceEvaluator(type: string, elem: string, only?: string): ((resource: object) => unknown[]) | undefined {
  const types = choiceTypePaths[`${type}.${elem}`] as string[] | undefined;
  if (!types) return undefined;
  const keys = (only === undefined ? types : types.filter((t) => t === only)).map((t) => `${elem}${t}`);
  return (r) => {
    if ((r as { resourceType?: string }).resourceType !== type) return [];
    const out: unknown[] = [];
    for (const k of keys) {
      const v = (r as Record<string, unknown>)[k];
      if (v !== undefined && v !== null) out.push(v);
    }
    return out;
  };
}

export function fastEvaluator(expression: string): ((resource: object) => unknown[]) | undefined {
  if (expression.includes(' | ')) {
    // A union: the parts' values, without repeats (FHIRPath's | removes duplicates).
    const parts = expression.split(' | ').map((e) => fastEvaluator(e.trim()));
    if (parts.some((p) => p === undefined)) return undefined;
    const fns = parts as ((resource: object) => unknown[])[];
    return (r) => {
      const seen = new Set<string>();
      const out: unknown[] = [];
      for (const fn of fns) {
        for (const v of fn(r)) {
          const key = JSON.stringify(v);
          if (seen.has(key)) continue;
          seen.add(key);
          out.push(v);
        }
      }
      return out;
    };
  }
  const ofType = OF_TYPE.exec(expression);
  if (ofType) return choiceEvaluator(ofType[1] as string, ofType[2] as string, ofType[3] as string);
  const ext = EXTENSION_VALUE.exec(expression);
  if (ext) {
    const url = ext[2] as string;
    return (r) => {
      const out: unknown[] = [];
      for (const e of step([r], 'extension') as Record<string, unknown>[]) {
        if (e.url !== url) continue;
        for (const [k, v] of Object.entries(e)) if (k.startsWith('value') && v !== undefined) out.push(v);
      }
      return out;
    };
  }
  const m = PLAIN.exec(expression);
  if (!m) return undefined;
  const type = m[1] as string;
  const keys = (m[2] as string).slice(1).split('.');
  if (keys.length === 1 && `${type}.${keys[0]}` in choiceTypePaths) return choiceEvaluator(type, keys[0] as string);
  let path = type;
  for (const k of keys) {
    path = `${path}.${k}`;
    // Choice elements (value[x]) and content references need the model: leave them to fhirpath.js.
    if (path in choiceTypePaths || path in pathsDefinedElsewhere) return undefined;
  }
  return (r) => {
    if ((r as { resourceType?: string }).resourceType !== type) return [];
    let values: unknown[] = [r];
    for (const k of keys) {
      values = step(values, k);
      if (values.length === 0) return values;
    }
    return values;
  };
}
