/**
 * Replay protection for client assertions (RFC 7523 §3, SMART Backend Services): each accepted
 * assertion's jti is recorded in the database under a unique key, so a replay is refused by any
 * instance, before or after a restart. Rows are pruned once the assertion has expired, since an
 * expired assertion is refused anyway.
 */
import type { Queryable } from '../store/db.ts';

const PRUNE_INTERVAL_MS = 60_000;

export class UsedJtiStore {
  readonly #db: Queryable;
  #lastPrune = 0;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** True when the jti was unused and is now recorded; false when it was seen before (a replay). */
  async claim(clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    await this.#maybePrune();
    const r = await this.#db.query(
      `INSERT INTO auth_used_jti (client_id, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (client_id, jti) DO NOTHING RETURNING jti`,
      [clientId, jti, expiresAt],
    );
    return r.rows.length === 1;
  }

  async prune(): Promise<number> {
    const r = await this.#db.query('DELETE FROM auth_used_jti WHERE expires_at < now() RETURNING jti');
    return r.rows.length;
  }

  async #maybePrune(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastPrune < PRUNE_INTERVAL_MS) return;
    this.#lastPrune = now;
    await this.prune();
  }
}
