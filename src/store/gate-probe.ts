/**
 * What the ingest gate reads before it turns a single pushed result away, for every such request
 * that arrives in one turn of the event loop, in one statement: the enrollment version (is the
 * in-memory enrollment index current?) and which of the results' identifiers are stored already
 * (a re-delivery that now leaves the trial withdraws its stored version). A hospital feed sends
 * mostly results the trial does not keep; one round trip per request was most of their cost.
 *
 * Every caller's statement is sent after the caller asked (it is sent on the next turn), so what it
 * reads is never older than the request, as a per-request read would be.
 *
 * One statement is in flight at a time: the requests that arrive while it runs wait for the next,
 * sent as soon as it is answered, and share it. Under load a statement then answers tens of
 * requests instead of two or three (issue 22: the probe was most of a result turned away's cost on
 * PGlite, whose statements run one after another anyway), at the price of waiting at most one
 * round trip more.
 *
 * On a store only this process writes (Db.soleWriter, src/store/sole-writer.ts) both answers are
 * known in process: no statement, unless an identifier may be stored (then one lookup of those).
 */
import type { Db } from './db.ts';
import { findObservationIds, type IdentifierKey } from './identifier-lookup.ts';

export interface ProbeResult {
  /** enrollment_state.version as text. */
  version: string;
  /** `system|value` → Observation id, for the identifiers asked about that are stored. */
  stored: Map<string, string>;
}

interface Waiting {
  keys: readonly IdentifierKey[];
  resolve(r: ProbeResult): void;
  reject(err: unknown): void;
}

/**
 * Row -1 is the enrollment version; the others are the ordinal of a stored identifier among those
 * asked about (one index probe each, on the unique identifier index of migration 0006).
 */
const PROBE_SQL = `SELECT -1 AS n, version::text AS v FROM enrollment_state WHERE id = 1
UNION ALL
SELECT k.n::int, t.id FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(system, code, n)
  CROSS JOIN LATERAL (
    SELECT id FROM sp_token
     WHERE resource_type = 'Observation' AND param = 'identifier'
       AND system = k.system AND code = k.code
     LIMIT 1) AS t`;

/** At most this many requests share one statement (a larger turn sends several). */
const MAX_SHARED = 500;

export class GateProbe {
  readonly db: Db;
  #waiting: Waiting[] = [];
  /** A send is scheduled for the next turn. */
  #scheduled = false;
  /** A statement is being answered: the next send waits for it. */
  #inFlight = false;

  constructor(db: Db) {
    this.db = db;
  }

  /** The enrollment version and which of `keys` (Observation identifiers) are stored. */
  probe(keys: readonly IdentifierKey[]): Promise<ProbeResult> {
    const sole = this.db.soleWriter;
    if (sole) return this.#inProcess(keys);
    return new Promise<ProbeResult>((resolve, reject) => {
      this.#waiting.push({ keys, resolve, reject });
      this.#schedule();
    });
  }

  async #inProcess(keys: readonly IdentifierKey[]): Promise<ProbeResult> {
    const sole = this.db.soleWriter;
    if (!sole) throw new Error('not a sole-writer store');
    if (keys.length > 0 && !sole.identifiersReady) await sole.loadIdentifiers(this.db);
    const maybe = keys.filter((k) => sole.mayBeStored(k));
    const stored = maybe.length > 0 ? await findObservationIds(this.db, maybe) : new Map<string, string>();
    // Read after the lookup: a write the lookup waited for is then part of the version.
    return { version: sole.enrollmentVersion, stored };
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#send();
    });
  }

  async #send(): Promise<void> {
    const all = this.#waiting;
    this.#waiting = [];
    this.#inFlight = true;
    try {
      const runs: Promise<void>[] = [];
      for (let i = 0; i < all.length; i += MAX_SHARED) runs.push(this.#run(all.slice(i, i + MAX_SHARED)));
      await Promise.all(runs);
    } finally {
      this.#inFlight = false;
      // Those that asked meanwhile: their statement goes now (it reads after they asked).
      if (this.#waiting.length > 0) this.#schedule();
    }
  }

  async #run(batch: Waiting[]): Promise<void> {
    const systems: string[] = [];
    const codes: string[] = [];
    for (const w of batch) {
      for (const k of w.keys) {
        systems.push(k.system);
        codes.push(k.value);
      }
    }
    let rows: { n: number; v: string }[];
    try {
      rows = (await this.db.query<{ n: number; v: string }>(PROBE_SQL, [systems, codes], 'khe_gate_probe')).rows;
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    let version = '0';
    const found = new Map<number, string>();
    for (const row of rows) {
      if (Number(row.n) === -1) version = row.v;
      else found.set(Number(row.n), row.v);
    }
    // Ordinals are 1-based, in the order the keys were appended above.
    let n = 1;
    for (const w of batch) {
      const stored = new Map<string, string>();
      for (const k of w.keys) {
        const id = found.get(n++);
        if (id !== undefined) stored.set(`${k.system}|${k.value}`, id);
      }
      w.resolve({ version, stored });
    }
  }
}
