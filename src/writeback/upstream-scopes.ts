/**
 * The SMART system scopes the adapter needs at the EHR, derived from what is enabled, and the check
 * of what a token response granted against them (SMART App Launch 2.0 §Scopes: v2 `.cruds`
 * permissions in that order; v1 `.read`/`.write`/`.*` still understood in what a server grants).
 */

export interface ScopeNeeds {
  /** Pull, backfill, or a Subscription's id-only notifications: Observation search/read, Patient read. */
  pull: boolean;
  /** The outbox: create/update MeasureReport, Flag, Observation; AdverseEvent also deleted (a retraction). */
  writeBack: boolean;
  /** Creating the Subscription upstream: search, conditional create, read ($status). */
  subscriptionSetup: boolean;
}

type Letter = 'c' | 'r' | 'u' | 'd' | 's';
const ORDER: readonly Letter[] = ['c', 'r', 'u', 'd', 's'];

function add(into: Map<string, Set<Letter>>, type: string, letters: string): void {
  const set = into.get(type) ?? new Set<Letter>();
  for (const l of letters) set.add(l as Letter);
  into.set(type, set);
}

function format(needs: Map<string, Set<Letter>>): string[] {
  return [...needs]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, set]) => `system/${type}.${ORDER.filter((l) => set.has(l)).join('')}`);
}

/** SMART v2 scopes for what is enabled, one per type, e.g. system/Observation.cruds. */
export function neededScopes(n: ScopeNeeds): string[] {
  const needs = new Map<string, Set<Letter>>();
  if (n.pull) {
    add(needs, 'Observation', 'rs');
    add(needs, 'Patient', 'r');
  }
  if (n.writeBack) {
    for (const type of ['MeasureReport', 'Flag', 'Observation']) add(needs, type, 'cu');
    // A suggested AdverseEvent that is no longer produced is deleted (R4 has no status for it).
    add(needs, 'AdverseEvent', 'cud');
  }
  if (n.subscriptionSetup) add(needs, 'Subscription', 'crs');
  return format(needs);
}

/** What one granted scope allows on `type`. */
function allowed(scope: string, type: string): Set<Letter> {
  const m = /^system\/([A-Za-z]+|\*)\.([a-z]+|\*)(\?.*)?$/.exec(scope);
  if (!m || (m[1] !== type && m[1] !== '*') || m[3]) return new Set();
  const perm = m[2] as string;
  if (perm === '*') return new Set(ORDER);
  if (perm === 'read') return new Set(['r', 's']);
  if (perm === 'write') return new Set(['c', 'u', 'd']);
  return new Set([...perm].filter((l): l is Letter => (ORDER as readonly string[]).includes(l)));
}

/** The part of each needed scope no granted scope covers, e.g. ["system/AdverseEvent.cud"]. */
export function missingScopes(needed: readonly string[], granted: readonly string[]): string[] {
  const missing = new Map<string, Set<Letter>>();
  for (const need of needed) {
    const m = /^system\/([A-Za-z]+)\.([a-z]+)$/.exec(need);
    if (!m) continue;
    const type = m[1] as string;
    const have = new Set<Letter>();
    for (const g of granted) for (const l of allowed(g, type)) have.add(l);
    const lacking = [...(m[2] as string)].filter((l) => !have.has(l as Letter)).join('');
    if (lacking) add(missing, type, lacking);
  }
  return format(missing);
}

export interface ScopeCheckState {
  /** What the enabled features need. */
  needed: string[];
  /** What the adapter asks for (UPSTREAM_SCOPE, by default the needed scopes). */
  requested: string[];
  /** What the last token response granted (its `scope`, or what was asked when it names none); null: not known yet, or a static token. */
  granted: string[] | null;
  /** Needed scopes (or the part of them) not granted; null while unknown. */
  missing: string[] | null;
  checkedAt: string | null;
  /** Why no token could be had yet, while it cannot. */
  lastError: string | null;
}

/** Keeps what the EHR granted against what is needed; warns (once per change) when something is missing. */
export class ScopeCheck {
  readonly #state: ScopeCheckState;
  readonly #warn: (missing: string[], state: ScopeCheckState) => void;

  constructor(
    needed: readonly string[],
    requested: readonly string[],
    warn: (missing: string[], state: ScopeCheckState) => void,
  ) {
    this.#state = {
      needed: [...needed],
      requested: [...requested],
      granted: null,
      missing: null,
      checkedAt: null,
      lastError: null,
    };
    this.#warn = warn;
  }

  /** A token response: `granted` is its scope parameter split, or undefined when it named none (RFC 6749 §5.1: as requested). */
  record(granted: readonly string[] | undefined): void {
    const list = granted ? [...granted] : [...this.#state.requested];
    const missing = missingScopes(this.#state.needed, list);
    const before = this.#state.missing?.join(' ');
    Object.assign(this.#state, { granted: list, missing, checkedAt: new Date().toISOString(), lastError: null });
    if (missing.length > 0 && before !== missing.join(' ')) this.#warn(missing, this.state());
  }

  failed(error: string): void {
    this.#state.lastError = error;
  }

  state(): ScopeCheckState {
    return structuredClone(this.#state);
  }
}
