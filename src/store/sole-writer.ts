/**
 * A store that only this process writes (the embedded PGlite store: its data folder is locked to
 * one process, src/store/data-dir-lock.ts, or it lives in memory). What the ingest gate would read
 * from the store before turning a result away is then known in process, because every write that
 * changes it goes through the store functions that record it here:
 *
 * - the enrollment version: every write of a ResearchSubject or a Patient (the types whose writes
 *   bump enrollment_state, migration 0003) and every rewrite of their index rows moves it, before
 *   the statement is sent, once it is answered, and again when its transaction ends (committed or
 *   rolled back), so an index loaded meanwhile, or inside the transaction, is reloaded after it;
 * - which Observation identifiers may be stored: a set of hashes of `system|value`, loaded once from
 *   the store and added to by every write of Observation identifier index rows. It can say "maybe"
 *   for one never stored (a hash collision, a rolled-back write, a deleted result): the caller then
 *   asks the store; it never says "no" for one that is stored.
 *
 * A PostgreSQL store has none (Db.soleWriter is undefined): other instances write it, and the gate
 * reads the enrollment version and the identifiers from it (src/store/gate-probe.ts).
 */
import type { IndexRows } from '../shared/index-rows.ts';

/** Writes of these types change who is enrolled (see src/ingest/enrollment-index.ts). */
export const ENROLLMENT_TYPES: ReadonlySet<string> = new Set(['ResearchSubject', 'Patient']);

/** What the identifier load needs of the store (db.ts's Queryable; not imported: db.ts holds a SoleWriter). */
interface Reader {
  query<R extends object>(text: string): Promise<{ rows: R[] }>;
}

/** FNV-1a over the UTF-16 code units of `system|value`. */
function hashKey(system: string, value: string): number {
  let h = 0x811c9dc5;
  const s = `${system}|${value}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class SoleWriter {
  #enrollment = 0;
  readonly #identifiers = new Set<number>();
  #loaded: Promise<void> | undefined;
  #ready = false;

  /** Changes whenever enrollment may have changed; compare for equality only. */
  get enrollmentVersion(): string {
    return `local:${this.#enrollment}`;
  }

  /** A write of one of these resources (with these index rows) is being sent on this store. */
  written(resourceType: string, index: IndexRows | undefined): void {
    if (ENROLLMENT_TYPES.has(resourceType)) this.#enrollment++;
    else if (resourceType === 'Observation' && index) {
      for (const [param, system, code] of index.tokens)
        if (param === 'identifier' && system) this.#identifiers.add(hashKey(system, code));
    }
  }

  /**
   * The statement of those writes was answered: an enrollment read between `written` and now (it may
   * have run before the write did) is stale.
   */
  settled(resourceTypes: Iterable<string>): void {
    for (const t of resourceTypes)
      if (ENROLLMENT_TYPES.has(t)) {
        this.#enrollment++;
        return;
      }
  }

  /** A transaction ended: if it changed enrollment, what was read while it was open is stale. */
  transactionEnded(enrollmentBefore: string): void {
    if (this.enrollmentVersion !== enrollmentBefore) this.#enrollment++;
  }

  /** Whether the identifier set is loaded (then `mayBeStored` answers without the store). */
  get identifiersReady(): boolean {
    return this.#ready;
  }

  /** Loads the stored Observation identifiers once (added to what was written meanwhile). */
  loadIdentifiers(q: Reader): Promise<void> {
    this.#loaded ??= q
      .query<{ system: string; code: string }>(
        `SELECT system, code FROM sp_token
          WHERE resource_type = 'Observation' AND param = 'identifier' AND system IS NOT NULL`,
      )
      .then((r) => {
        for (const row of r.rows) this.#identifiers.add(hashKey(row.system, row.code));
        this.#ready = true;
      })
      .catch((err: unknown) => {
        this.#loaded = undefined;
        throw err;
      });
    return this.#loaded;
  }

  /** False: no Observation with this identifier is stored. True: perhaps (ask the store). */
  mayBeStored(key: { system: string; value: string }): boolean {
    return this.#identifiers.has(hashKey(key.system, key.value));
  }
}
