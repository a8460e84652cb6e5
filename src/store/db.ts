/**
 * The one database access path for both backends: node-postgres, either against a PostgreSQL
 * server (DATABASE_URL) or against embedded PGlite through its node-postgres adapter. Using pg
 * for both gives identical type parsing (int8 as string, numeric as string) and one SQL dialect.
 */
import type pg from 'pg';

export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface Db extends Queryable {
  /** Runs fn inside BEGIN … COMMIT on one connection; rolls back when fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Human-readable backend name, for logs and /readyz. */
  readonly backend: 'postgresql' | 'pglite';
  close(): Promise<void>;
}

export class PoolDb implements Db {
  readonly backend: 'postgresql' | 'pglite';
  readonly #pool: pg.Pool;
  readonly #onClose: () => Promise<void>;

  constructor(pool: pg.Pool, backend: 'postgresql' | 'pglite', onClose: () => Promise<void> = async () => {}) {
    this.#pool = pool;
    this.backend = backend;
    this.#onClose = onClose;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>(text, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
    await this.#onClose();
  }
}
