import { OperationOutcomeError } from '@medplum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusOf } from '../../src/shared/outcomes.ts';
import type { Db, Queryable } from '../../src/store/db.ts';
import { withTimeBudget } from '../../src/store/time-budget.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

/** A PGlite-like store whose every query takes `ms` of wall time and counts what ran. */
function slowStore(ms: number): Db & { ran: string[] } {
  const ran: string[] = [];
  const q: Queryable = {
    query: async (text) => {
      ran.push(text);
      await new Promise((r) => setTimeout(r, ms));
      return { rows: [] };
    },
    exec: async () => undefined,
  };
  return {
    ...q,
    ran,
    backend: 'pglite',
    transaction: (fn) => fn(q),
    close: async () => undefined,
  };
}

async function outcomeOf(p: Promise<unknown>): Promise<{ status: number; code: string | undefined }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return { status: statusOf(err.outcome), code: err.outcome.issue?.[0]?.code };
    }
    throw err;
  }
  throw new Error('expected the budget to run out');
}

describe('time budget of a request', () => {
  it('starts no further query once the budget is spent (PGlite cannot stop a running one)', async () => {
    const db = slowStore(40);
    const run = withTimeBudget(db, { ms: 30 }, async (q) => {
      await q.query('SELECT 1');
      await q.query('SELECT 2');
      await q.query('SELECT 3');
    });
    expect(await outcomeOf(run)).toEqual({ status: 503, code: 'timeout' });
    expect(db.ran).toEqual(['SELECT 1']);
  });

  it('starts nothing for a client that has gone', async () => {
    const db = slowStore(1);
    const gone = new AbortController();
    gone.abort();
    const run = withTimeBudget(db, { ms: 10_000, signal: gone.signal }, (q) => q.query('SELECT 1'));
    expect((await outcomeOf(run)).status).toBe(503);
    expect(db.ran).toEqual([]);
  });

  it('lets queries within the budget run and returns their result', async () => {
    const db = slowStore(1);
    expect(await withTimeBudget(db, { ms: 10_000 }, async (q) => (await q.query('SELECT 1')).rows)).toEqual([]);
  });

  describe.runIf(testBackend() === 'postgresql')('on PostgreSQL', () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await openTestDb();
    });
    afterAll(async () => {
      await t.drop();
    });

    it('stops a running statement at the budget, and leaves no timeout on the pooled connection', async () => {
      const started = performance.now();
      const run = withTimeBudget(t.db, { ms: 100 }, (q) => q.query('SELECT pg_sleep(5)'));
      expect(await outcomeOf(run)).toEqual({ status: 503, code: 'timeout' });
      expect(performance.now() - started).toBeLessThan(2_000);
      for (let i = 0; i < 10; i++) {
        const r = await t.db.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t");
        expect(r.rows[0]?.t).toBe('0');
      }
    });
  });
});
