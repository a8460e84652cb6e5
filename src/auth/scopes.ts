/**
 * SMART on FHIR resource scopes, v2 (`system/Observation.rs`) and v1 (`system/Observation.read`).
 *
 * How interactions map to scope letters (v2 c r u d s; v1 read = rs, write = cud, * = cruds):
 * - read covers read, vread and history (FHIR's own grouping: they all return stored versions);
 * - search covers type and system search, `_include`/`_revinclude` (authorised per included type)
 *   and bulk `$export`, which is a search over every resource of a type: a client needs `s` (or v1
 *   `.read`) on every type it exports;
 * - conditional create and conditional update also need search, because they run one.
 *
 * This service is a backend-services authorization server: tokens have no patient or user context.
 * `system/` and `user/` scopes therefore both mean "every resource of that type". `patient/` scopes
 * parse, but grant nothing, because there is never a patient in context to narrow them to.
 * SMART v2 granular scopes (`system/Observation.rs?category=laboratory`) are recognised and not
 * supported: they grant nothing, since the narrowing query cannot be enforced here.
 */

export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';

export const INTERACTIONS: readonly Interaction[] = ['create', 'read', 'update', 'delete', 'search'];

export type ScopeContext = 'patient' | 'user' | 'system';

export interface ResourceScope {
  raw: string;
  context: ScopeContext;
  /** A resource type, or '*' for all. */
  resourceType: string;
  interactions: ReadonlySet<Interaction>;
  version: 1 | 2;
}

export type ScopeClass =
  | { kind: 'resource'; scope: ResourceScope }
  /** Looks like a resource scope but is not one: a client error (invalid_scope). */
  | { kind: 'malformed'; reason: string }
  /** A well-formed granular v2 scope (with a query): recognised, never granted. */
  | { kind: 'unsupported'; reason: string }
  /** Not a resource scope at all (openid, launch, offline_access…): irrelevant here. */
  | { kind: 'other' };

const LETTERS: readonly [string, Interaction][] = [
  ['c', 'create'],
  ['r', 'read'],
  ['u', 'update'],
  ['d', 'delete'],
  ['s', 'search'],
];
const V1: Record<string, readonly Interaction[]> = {
  read: ['read', 'search'],
  write: ['create', 'update', 'delete'],
  '*': INTERACTIONS,
};
const PREFIX = /^(patient|user|system)\//;
const SHAPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)$/;
// v2 letters must appear in c-r-u-d-s order, each at most once (SMART 2 scopes-and-launch-context).
const V2_LETTERS = /^(?=[cruds])c?r?u?d?s?$/;

export function classifyScope(raw: string): ScopeClass {
  if (!PREFIX.test(raw)) return { kind: 'other' };
  if (raw.includes('?')) {
    const base = raw.slice(0, raw.indexOf('?'));
    const inner = classifyScope(base);
    if (inner.kind !== 'resource' || inner.scope.version !== 2) {
      return { kind: 'malformed', reason: `malformed scope ${raw}` };
    }
    return { kind: 'unsupported', reason: `granular scope ${raw} is not supported` };
  }
  const m = SHAPE.exec(raw);
  if (!m) return { kind: 'malformed', reason: `malformed scope ${raw}` };
  const [, context, resourceType, permission] = m as unknown as [string, ScopeContext, string, string];
  const v1 = V1[permission];
  if (v1) {
    return { kind: 'resource', scope: { raw, context, resourceType, interactions: new Set(v1), version: 1 } };
  }
  if (!V2_LETTERS.test(permission)) {
    return { kind: 'malformed', reason: `scope ${raw}: permissions must be some of c, r, u, d, s in that order` };
  }
  const interactions = new Set(LETTERS.filter(([l]) => permission.includes(l)).map(([, i]) => i));
  return { kind: 'resource', scope: { raw, context, resourceType, interactions, version: 2 } };
}

export function parseScope(raw: string): ResourceScope | undefined {
  const c = classifyScope(raw);
  return c.kind === 'resource' ? c.scope : undefined;
}

/** Space-separated scope parameter or claim → list, without empties or duplicates. */
export function splitScopes(value: string): string[] {
  return [...new Set(value.split(/\s+/).filter((s) => s.length > 0))];
}

/** v2 letters for a set of interactions, in canonical order ("" when empty). */
export function scopeLetters(interactions: ReadonlySet<Interaction>): string {
  return LETTERS.filter(([, i]) => interactions.has(i))
    .map(([l]) => l)
    .join('');
}

// Tokens carry a handful of distinct scope strings; caching their parse keeps the per-request check
// to map lookups. Bounded because external IdP tokens can bring arbitrary strings.
const CACHE_LIMIT = 10_000;
const cache = new Map<string, ResourceScope | null>();

function cachedParse(raw: string): ResourceScope | null {
  let parsed = cache.get(raw);
  if (parsed === undefined) {
    parsed = parseScope(raw) ?? null;
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(raw, parsed);
  }
  return parsed;
}

/** Whether any of the scopes grants the interaction on the type (system-wide scopes only). */
export function scopesAllow(scopes: readonly string[], resourceType: string, interaction: Interaction): boolean {
  for (const raw of scopes) {
    const s = cachedParse(raw);
    if (!s || s.context === 'patient') continue;
    if ((s.resourceType === '*' || s.resourceType === resourceType) && s.interactions.has(interaction)) return true;
  }
  return false;
}
