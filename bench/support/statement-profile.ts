/**
 * Statement counts and client-side time per kind of statement, for a bench whose service runs in
 * process on PostgreSQL (node-postgres): every query of every client is timed from its call to its
 * result, which is what the service waits for (round trip, queueing on the connection, execution).
 * `pg_stat_statements` needs a server restart to load; this needs nothing. Kinds are the statement's
 * first words with whitespace folded and parameter lists collapsed.
 */
import pg from 'pg';
import type { Db, Queryable, QueryResult, TransactionOptions } from '../../src/store/db.ts';

interface Kind {
  count: number;
  ms: number;
}

const kinds = new Map<string, Kind>();
let installed = false;

function kindOf(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/(\$\d+(::\w+)?, )+\$\d+(::\w+)?/g, '$…')
    .trim()
    .slice(0, 90);
}

function record(text: string, started: number): void {
  const k = kindOf(text);
  const e = kinds.get(k) ?? { count: 0, ms: 0 };
  e.count++;
  e.ms += performance.now() - started;
  kinds.set(k, e);
}

/** Starts timing every node-postgres query of this process. */
export function installStatementProfile(): void {
  if (installed) return;
  installed = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]): unknown {
    const first = args[0];
    const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?');
    const started = performance.now();
    const last = args.length - 1;
    const cb = args[last];
    if (typeof cb === 'function') {
      args[last] = (...r: unknown[]) => {
        record(text, started);
        return (cb as (...a: unknown[]) => unknown)(...r);
      };
      return original.apply(this, args);
    }
    const out = original.apply(this, args);
    if (out && typeof (out as Promise<unknown>).then === 'function') {
      return (out as Promise<unknown>).finally(() => record(text, started));
    }
    return out;
  };
}

/** The kinds seen since the last call, most time first; resets the counts. */
export function takeStatementProfile(): { statements: number; ms: number; kinds: [string, Kind][] } {
  const list = [...kinds].sort((a, b) => b[1].ms - a[1].ms);
  kinds.clear();
  return {
    statements: list.reduce((a, [, k]) => a + k.count, 0),
    ms: Math.round(list.reduce((a, [, k]) => a + k.ms, 0)),
    kinds: list.map(([t, k]) => [t, { count: k.count, ms: Math.round(k.ms) }]),
  };
}

/**
 * The same for a store that is not node-postgres (PGlite): times every query made through the Db
 * and its transactions (BEGIN and COMMIT, issued inside PGlite's own transaction(), are not seen).
 */
export function profileDb(db: Db): void {
  const wrap = (q: Queryable): Queryable => ({
    ...q,
    query: <R extends object>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>> => {
      const started = performance.now();
      return q.query<R>(text, params, name).finally(() => record(text, started));
    },
  });
  const query = db.query.bind(db);
  const transaction = db.transaction.bind(db);
  Object.assign(db, {
    query: <R extends object>(text: string, params?: unknown[], name?: string) =>
      wrap({ query, exec: db.exec.bind(db) }).query<R>(text, params, name),
    transaction: <T>(
      fn: (tx: Queryable, first?: Record<string, unknown>[]) => Promise<T>,
      options?: TransactionOptions,
    ) => transaction((tx, first) => fn(wrap(tx), first), options),
  });
}
