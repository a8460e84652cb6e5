import { OperationOutcomeError } from '@medplum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusOf } from '../../src/shared/outcomes.ts';
import { type Db, type Queryable, setLocalSql } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open-db.ts';
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

  it('refuses a setting whose name or value is not a plain word (they go into the SQL text)', () => {
    expect(setLocalSql({ statement_timeout: 250, max_parallel_workers_per_gather: 0 })).toBe(
      "SET LOCAL statement_timeout = '250'; SET LOCAL max_parallel_workers_per_gather = '0'",
    );
    expect(() => setLocalSql({ statement_timeout: "1'; DROP TABLE resources; --" })).toThrow(/unsafe setting/);
    expect(() => setLocalSql({ 'statement_timeout = 0; --': 1 })).toThrow(/unsafe setting/);
  });

  describe(`a transaction's settings and READ ONLY (${testBackend()})`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await openTestDb();
    });
    afterAll(async () => {
      await t.drop();
    });

    it('hands fn the rows of its first read (PGlite too, when a transaction is asked for)', async () => {
      const first = await t.db.transaction(async (_tx, rows) => rows, {
        readOnly: true,
        firstRead: "SELECT current_setting('transaction_read_only') AS ro",
      });
      expect(first).toEqual([{ ro: 'on' }]);
      expect(await t.db.transaction(async (_tx, rows) => rows)).toBeUndefined();
    });

    it('applies them inside the transaction only', async () => {
      const inside = await t.db.transaction(
        async (tx) =>
          (
            await tx.query<{ ro: string; w: string }>(
              "SELECT current_setting('transaction_read_only') AS ro, current_setting('max_parallel_workers_per_gather') AS w",
            )
          ).rows[0],
        { readOnly: true, settings: { max_parallel_workers_per_gather: 0 } },
      );
      expect(inside).toEqual({ ro: 'on', w: '0' });
      const after = await t.db.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro");
      expect(after.rows[0]?.ro).toBe('off');
    });

    it('refuses a write inside a read-only transaction, and rolls it back', async () => {
      await t.db.exec('CREATE TABLE IF NOT EXISTS ro_probe (a int)');
      await expect(
        t.db.transaction((tx) => tx.query('INSERT INTO ro_probe VALUES (1)'), { readOnly: true }),
      ).rejects.toMatchObject({ code: '25006' });
      expect((await t.db.query('SELECT * FROM ro_probe')).rows).toEqual([]);
      expect((await t.db.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    });
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

    it('sends its first read with the BEGIN, inside the transaction and after its settings', async () => {
      const first = await withTimeBudget(t.db, { ms: 4_321 }, async (_q, rows) => rows, {
        firstRead:
          "SELECT 1 AS one; SELECT current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS t",
      });
      expect(first).toEqual([{ ro: 'on', t: '4321ms' }]);
    });

    it('runs what it budgets read-only (a write in it fails)', async () => {
      await t.db.exec('CREATE TABLE IF NOT EXISTS ro_probe2 (a int)');
      await expect(
        withTimeBudget(t.db, { ms: 10_000 }, (q) => q.query('INSERT INTO ro_probe2 VALUES (2)')),
      ).rejects.toMatchObject({ code: '25006' });
    });

    it('hands a connection back only once its read-only COMMIT is done (one pooled connection)', async () => {
      // The answer does not wait for the COMMIT; the next user of the connection must still find
      // it out of the transaction, without the budget's settings.
      const one = await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir: '', schema: t.schema, poolSize: 1 });
      try {
        for (let i = 0; i < 20; i++) {
          const inside = await withTimeBudget(one, { ms: 1_234 }, async (q) => {
            return (await q.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t")).rows[0]?.t;
          });
          expect(inside).toBe('1234ms');
          const after = await one.query<{ t: string; ro: string; w: string; x: string }>(
            `SELECT current_setting('statement_timeout') AS t, current_setting('transaction_read_only') AS ro,
                    current_setting('max_parallel_workers_per_gather') AS w, now() = statement_timestamp() AS x`,
          );
          // now() = statement_timestamp(): a statement outside any transaction block.
          expect(after.rows[0]).toMatchObject({ t: '0', ro: 'off', x: true });
          expect(after.rows[0]?.w).not.toBe('0');
        }
      } finally {
        await one.close();
      }
    });
  });
});
