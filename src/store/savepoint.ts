/**
 * One step of a transaction that may fail without failing the rest: run under a savepoint, rolled
 * back to it on error (the error is rethrown for the caller to record), released on success. The
 * name may repeat when steps nest: PostgreSQL rolls back to the most recent savepoint of that name.
 */
import type { Queryable } from './db.ts';

export async function withSavepoint<T>(tx: Queryable, fn: () => Promise<T>): Promise<T> {
  await tx.query('SAVEPOINT isolated_step');
  try {
    const result = await fn();
    await tx.query('RELEASE SAVEPOINT isolated_step');
    return result;
  } catch (err) {
    await tx.query('ROLLBACK TO SAVEPOINT isolated_step');
    throw err;
  }
}
