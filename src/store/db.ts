/**
 * The one database interface for both backends: node-postgres against a PostgreSQL server
 * (DATABASE_URL), or embedded PGlite through its own API. Both run the same SQL; callers avoid the
 * drivers' type differences by casting what they read (counts and int8 as text, timestamps through
 * to_char). PGlite is not driven through its node-postgres adapter: after any SQL error (a unique
 * violation, say) that adapter loses protocol sync and every later query on the pool fails.
 */
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type pg from 'pg';
import { SoleWriter } from './sole-writer.ts';

export interface QueryResult<R> {
  rows: R[];
}

export interface Queryable {
  /**
   * `name`: a statement run very often (the ingest gate's probe), prepared once per connection on
   * PostgreSQL so later runs skip its parse and plan and send less; one name per text. PGlite
   * ignores it.
   */
  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    name?: string,
  ): Promise<QueryResult<R>>;
  /** Several statements in one text, without parameters (migrations). */
  exec(text: string): Promise<void>;
  /**
   * Present when this process is the store's only writer (src/store/sole-writer.ts), on the store
   * and on its transactions: the store functions that write resources record there what they wrote.
   */
  readonly soleWriter?: SoleWriter | undefined;
}

/** How a transaction starts (Db.transaction). */
export interface TransactionOptions {
  /**
   * Transaction-local settings (SET LOCAL name = value): names are plain identifiers, values
   * numbers or plain words. On PostgreSQL they go with the BEGIN, in one round trip.
   */
  settings?: Readonly<Record<string, string | number>> | undefined;
  /**
   * The transaction only reads (BEGIN READ ONLY: a write in it fails). Its result is returned as
   * soon as fn has it, without waiting for the COMMIT, which then changes nothing: on PostgreSQL
   * the connection goes back to the pool once the COMMIT is answered.
   */
  readOnly?: boolean | undefined;
  /**
   * A statement without parameters sent with the BEGIN, in the same round trip on PostgreSQL (a
   * read, or the outcomes stage's claim, which deletes the marks it takes); its rows are handed to
   * fn as `first`.
   */
  firstRead?: string | undefined;
}

/** The rows of the last statement of a simple query that may have held several (node-postgres). */
function lastRows(r: pg.QueryResult | pg.QueryResult[]): Record<string, unknown>[] {
  const last = Array.isArray(r) ? r[r.length - 1] : r;
  return (last?.rows ?? []) as Record<string, unknown>[];
}

const SETTING_NAME = /^[a-z_][a-z0-9_.]*$/;
const SETTING_VALUE = /^[A-Za-z0-9_.-]+$/;

/** `SET LOCAL …` statements for these settings, each checked before it goes into the SQL text. */
export function setLocalSql(settings: Readonly<Record<string, string | number>>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      const v = String(value);
      if (!SETTING_NAME.test(name) || !SETTING_VALUE.test(v)) throw new Error(`unsafe setting ${name} = ${v}`);
      return `SET LOCAL ${name} = '${v}'`;
    })
    .join('; ');
}

/** `-c name=value` startup options for these settings, each checked before it goes into the options. */
export function startupOptions(settings: Readonly<Record<string, string | number>>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      const v = String(value);
      if (!SETTING_NAME.test(name) || !SETTING_VALUE.test(v)) throw new Error(`unsafe setting ${name} = ${v}`);
      return ` -c ${name}=${v}`;
    })
    .join('');
}

export interface Db extends Queryable {
  /**
   * PostgreSQL: statements run each on its own, outside any transaction (no BEGIN and no COMMIT to
   * send), on connections opened with these settings: a pool of its own per set of settings, so
   * no connection of the main pool ever carries them. Absent on PGlite.
   */
  readonly withSettings?: (settings: Readonly<Record<string, string | number>>) => Queryable;
  /** Runs fn inside BEGIN … COMMIT on one connection; rolls back when fn throws. */
  transaction<T>(
    fn: (tx: Queryable, first?: Record<string, unknown>[]) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
  /** Human-readable backend name, for logs and /readyz. */
  readonly backend: 'postgresql' | 'pglite';
  /**
   * PGlite: resolves once no statement or transaction sent by another caller has been waiting or
   * running for `quietMs`, or after `maxMs`, both counted from the first turn of the event loop
   * after the call. A long job calls it between its transactions so that a request caught by one
   * runs all its statements before the next (absent on PostgreSQL, where requests run on other
   * connections).
   */
  readonly whenQuiet?: (quietMs: number, maxMs: number) => Promise<void>;
  close(): Promise<void>;
}

function pgQueryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    query: <R extends object>(text: string, params?: unknown[], name?: string) =>
      (name === undefined
        ? client.query(text, params)
        : client.query({ name, text, values: params })) as unknown as Promise<QueryResult<R>>,
    exec: async (text: string) => {
      await client.query(text);
    },
  };
}

export class PoolDb implements Db {
  readonly backend = 'postgresql' as const;
  readonly #pool: pg.Pool;
  readonly #q: Queryable;
  readonly #settingsPools = new Map<string, { pool: pg.Pool; q: Queryable }>();

  constructor(pool: pg.Pool, openPool?: (options: string) => pg.Pool) {
    this.#pool = pool;
    this.#q = pgQueryable(pool);
    // openPool: a pool whose connections start with these `-c` options (besides the main pool's).
    if (openPool) {
      this.withSettings = (settings) => {
        const options = startupOptions(settings);
        let held = this.#settingsPools.get(options);
        if (!held) {
          const p = openPool(options);
          held = { pool: p, q: pgQueryable(p) };
          this.#settingsPools.set(options, held);
        }
        return held.q;
      };
    }
  }

  readonly withSettings?: (settings: Readonly<Record<string, string | number>>) => Queryable;

  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    name?: string,
  ): Promise<QueryResult<R>> {
    return this.#q.query<R>(text, params, name);
  }

  exec(text: string): Promise<void> {
    return this.#q.exec(text);
  }

  async transaction<T>(
    fn: (tx: Queryable, first?: Record<string, unknown>[]) => Promise<T>,
    options: TransactionOptions = {},
  ): Promise<T> {
    const client = await this.#pool.connect();
    let released = false;
    try {
      // One round trip for BEGIN, its settings and its first read (a simple query may hold several
      // statements).
      const begin = [
        `BEGIN${options.readOnly ? ' READ ONLY' : ''}`,
        ...(options.settings ? [setLocalSql(options.settings)] : []),
        ...(options.firstRead ? [options.firstRead] : []),
      ].join('; ');
      const started = (await client.query(begin)) as unknown as pg.QueryResult | pg.QueryResult[];
      const result = await fn(pgQueryable(client), options.firstRead ? lastRows(started) : undefined);
      if (options.readOnly) {
        // Nothing to make durable: answer now, hand the connection back once the COMMIT is done
        // (a connection whose COMMIT failed is closed rather than reused).
        released = true;
        client.query('COMMIT').then(
          () => client.release(),
          (err: Error) => client.release(err),
        );
        return result;
      }
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      if (!released) client.release();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#settingsPools.values()].map((h) => h.pool.end()));
    await this.#pool.end();
  }
}

function pgliteQueryable(db: PGlite | Transaction, soleWriter: SoleWriter): Queryable {
  return {
    soleWriter,
    query: async <R extends object>(text: string, params?: unknown[]) => {
      const r = await db.query<R>(text, params);
      return { rows: r.rows };
    },
    exec: async (text: string) => {
      await db.exec(text);
    },
  };
}

/**
 * Embedded PGlite: one connection, statements serialised by PGlite itself (a statement outside a
 * transaction waits for an open one to end). Its data folder is locked to this process, or it lives
 * in memory: this process is its only writer.
 */
export class PGliteDb implements Db {
  readonly backend = 'pglite' as const;
  readonly soleWriter = new SoleWriter();
  readonly #db: PGlite;
  readonly #q: Queryable;
  readonly #onClose: () => Promise<void>;
  /** Statements and transactions sent and not yet settled (whenQuiet). */
  #inFlight = 0;
  /** When the last of them settled (performance.now()). */
  #settledAt = 0;

  constructor(db: PGlite, onClose: () => Promise<void>) {
    this.#db = db;
    this.#q = pgliteQueryable(db, this.soleWriter);
    this.#onClose = onClose;
  }

  async #tracked<T>(work: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await work();
    } finally {
      this.#inFlight--;
      this.#settledAt = performance.now();
    }
  }

  readonly whenQuiet = async (quietMs: number, maxMs: number): Promise<void> => {
    // A timer, not a microtask: the event loop reads the requests that arrived meanwhile.
    const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));
    await tick();
    // Counted from here, not from the call: another caller's statement may have held the thread
    // until now (PGlite runs in it), and the requests that arrived meanwhile are only being read
    // now. Counted from the call, a wait behind another background job's statement had run out
    // before its first turn (10,000-subject bench: reads waited 1-2 s behind a maintenance
    // statement, a batch and the next maintenance statement).
    const from = performance.now();
    const until = from + maxMs;
    for (;;) {
      const now = performance.now();
      if (now >= until) return;
      if (this.#inFlight === 0 && now - Math.max(from, this.#settledAt) >= quietMs) return;
      await tick();
    }
  };

  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    name?: string,
  ): Promise<QueryResult<R>> {
    return this.#tracked(() => this.#q.query<R>(text, params, name));
  }

  exec(text: string): Promise<void> {
    return this.#tracked(() => this.#q.exec(text));
  }

  transaction<T>(
    fn: (tx: Queryable, first?: Record<string, unknown>[]) => Promise<T>,
    options: TransactionOptions = {},
  ): Promise<T> {
    return this.#tracked(() => this.#transaction(fn, options));
  }

  async #transaction<T>(
    fn: (tx: Queryable, first?: Record<string, unknown>[]) => Promise<T>,
    options: TransactionOptions = {},
  ): Promise<T> {
    const sole = this.soleWriter;
    let before: string | undefined;
    const start = [
      ...(options.readOnly ? ['SET TRANSACTION READ ONLY'] : []),
      ...(options.settings ? [setLocalSql(options.settings)] : []),
      ...(options.firstRead ? [options.firstRead] : []),
    ].join('; ');
    try {
      return await this.#db.transaction(async (tx) => {
        before = sole.enrollmentVersion;
        const results = start ? await tx.exec(start) : [];
        const first = options.firstRead
          ? ((results[results.length - 1]?.rows ?? []) as Record<string, unknown>[])
          : undefined;
        return fn(pgliteQueryable(tx, sole), first);
      });
    } finally {
      if (before !== undefined) sole.transactionEnded(before);
    }
  }

  async close(): Promise<void> {
    await this.#db.close();
    await this.#onClose();
  }
}
