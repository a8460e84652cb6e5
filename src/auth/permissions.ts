/**
 * Scope sets as a map of resource type (or '*') to interactions, so that "requested ∩ registered ∩
 * role ceiling" is exact set arithmetic even when some sides use wildcards and others name types.
 */
import { type Interaction, type ResourceScope, scopeLetters } from './scopes.ts';

export type Permissions = ReadonlyMap<string, ReadonlySet<Interaction>>;

/** Union of the scopes' grants; patient-context scopes grant nothing here (see scopes.ts). */
export function permissionsOf(scopes: readonly ResourceScope[]): Map<string, Set<Interaction>> {
  const p = new Map<string, Set<Interaction>>();
  for (const s of scopes) {
    if (s.context === 'patient') continue;
    const set = p.get(s.resourceType) ?? new Set<Interaction>();
    for (const i of s.interactions) set.add(i);
    p.set(s.resourceType, set);
  }
  return p;
}

export function permissionsFromRecord(record: Readonly<Record<string, readonly Interaction[]>>): Permissions {
  return new Map(Object.entries(record).map(([type, list]) => [type, new Set(list)]));
}

export function permits(p: Permissions, resourceType: string, interaction: Interaction): boolean {
  return (p.get(resourceType)?.has(interaction) ?? false) || (p.get('*')?.has(interaction) ?? false);
}

function effective(p: Permissions, resourceType: string): Set<Interaction> {
  return new Set([...(p.get(resourceType) ?? []), ...(p.get('*') ?? [])]);
}

export function intersectPermissions(a: Permissions, b: Permissions): Map<string, Set<Interaction>> {
  const out = new Map<string, Set<Interaction>>();
  const wildA = a.get('*') ?? new Set<Interaction>();
  const wild = new Set([...wildA].filter((i) => b.get('*')?.has(i)));
  if (wild.size > 0) out.set('*', wild);
  const types = new Set([...a.keys(), ...b.keys()]);
  types.delete('*');
  for (const type of types) {
    const eb = effective(b, type);
    const both = [...effective(a, type)].filter((i) => eb.has(i) && !wild.has(i));
    if (both.length > 0) out.set(type, new Set(both));
  }
  return out;
}

export function samePermissions(a: Permissions, b: Permissions): boolean {
  const norm = (p: Permissions): string =>
    [...p.entries()]
      .filter(([, s]) => s.size > 0)
      .map(([t, s]) => `${t}.${scopeLetters(s)}`)
      .sort()
      .join(' ');
  return norm(a) === norm(b);
}

/** Canonical v2 system scopes, wildcard first, then types alphabetically. */
export function permissionsToScopes(p: Permissions): string[] {
  return [...p.entries()]
    .filter(([, s]) => s.size > 0)
    .sort(([x], [y]) => (x === '*' ? -1 : y === '*' ? 1 : x.localeCompare(y)))
    .map(([type, s]) => `system/${type}.${scopeLetters(s)}`);
}
