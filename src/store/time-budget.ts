/**
 * A time budget for the queries of one request. PostgreSQL enforces it itself (a transaction-local
 * statement_timeout, so a pooled connection never keeps it); PGlite runs each query to the end on
 * the service's own thread and ignores statement_timeout, so there the budget is checked between
 * queries: once it is spent, or the client has gone, no further query of the request starts. What
 * keeps any single PGlite query short is the bound on what a request may ask (SearchLimits).
 */
import { fail, timedOut } from '../shared/outcomes.ts';
import type { Db, Queryable, QueryResult } from './db.ts';

/** SQLSTATE query_canceled: statement_timeout (or a cancel request) stopped the statement. */
const QUERY_CANCELED = '57014';

export interface TimeBudget {
  ms: number;
  /** Aborted when the client goes away: its answer would be thrown away. */
  signal?: AbortSignal | undefined;
}

function spent(ms: number): never {
  fail(timedOut(`The request was stopped after its time budget of ${ms} ms; narrow it and retry`));
}

function budgeted(q: Queryable, budget: TimeBudget, deadline: number): Queryable {
  const check = (): void => {
    if (budget.signal?.aborted || performance.now() > deadline) spent(budget.ms);
  };
  return {
    query: async <R extends object>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>> => {
      check();
      try {
        return await q.query<R>(text, params, name);
      } catch (err) {
        if ((err as { code?: unknown }).code === QUERY_CANCELED) spent(budget.ms);
        throw err;
      }
    },
    exec: async (text: string) => {
      check();
      await q.exec(text);
    },
  };
}

/**
 * Runs fn's queries, which only read, within the budget: a 503 OperationOutcome (timeout) when it
 * runs out. `firstRead` (a read without parameters): on PostgreSQL sent with the transaction's
 * BEGIN, in one round trip, and its rows handed to fn; elsewhere fn gets undefined and reads itself.
 */
export async function withTimeBudget<T>(
  db: Db,
  budget: TimeBudget,
  fn: (q: Queryable, first?: Record<string, unknown>[]) => Promise<T>,
  options: {
    firstRead?: string | undefined;
    /** More settings (PostgreSQL): sent with the BEGIN as the others, or, `alone`, the connections' own. */
    settings?: Readonly<Record<string, string | number>> | undefined;
    /**
     * fn's statements each stand alone (none needs another's snapshot or firstRead): on PostgreSQL
     * they then run outside a transaction, on connections that start with the settings
     * (Db.withSettings and default_transaction_read_only), which saves the round trip of the
     * BEGIN and the COMMIT sent after the answer.
     */
    alone?: boolean | undefined;
  } = {},
): Promise<T> {
  const deadline = performance.now() + budget.ms;
  if (db.backend !== 'postgresql') return fn(budgeted(db, budget, deadline));
  // Settings local to the transaction, sent with its BEGIN (one round trip), so a pooled connection
  // never keeps them. No parallel workers either: a request's statements read a page's worth of
  // index rows, and starting workers for them cost more than it saved (on a busy 2-core host,
  // 100 ms and more before the first row, where the statement alone took a few). Read only: the
  // answer does not wait for the COMMIT (the request's AuditEvent is written by the audit trail).
  const settings = {
    ...options.settings,
    statement_timeout: Math.max(1, Math.ceil(budget.ms)),
    max_parallel_workers_per_gather: 0,
  };
  if (options.alone && db.withSettings)
    return fn(budgeted(db.withSettings({ ...settings, default_transaction_read_only: 'on' }), budget, deadline));
  return db.transaction((tx, first) => fn(budgeted(tx, budget, deadline), first), {
    readOnly: true,
    firstRead: options.firstRead,
    settings,
  });
}
