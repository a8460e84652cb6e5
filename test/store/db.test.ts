import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

describe(`store connection after SQL errors (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
    await t.db.exec('CREATE TABLE err_probe (a int PRIMARY KEY); INSERT INTO err_probe VALUES (1);');
  });
  afterAll(async () => {
    await t.drop();
  });

  it('runs without JIT compilation on PostgreSQL, on every pooled connection', async () => {
    if (testBackend() !== 'postgresql') return;
    const seen = await Promise.all(
      Array.from({ length: 4 }, () =>
        t.db.transaction(async (tx) => (await tx.query<{ jit: string }>('SHOW jit')).rows[0]?.jit),
      ),
    );
    expect(seen).toEqual(['off', 'off', 'off', 'off']);
    // The schema option still applies next to it.
    expect((await t.db.query<{ search_path: string }>('SHOW search_path')).rows[0]?.search_path).toBe(t.schema);
  });

  // PGlite's node-postgres adapter lost protocol sync after any error; the store must not.
  it('keeps working after a failed statement, a failed parameterised statement and a rolled-back transaction', async () => {
    await expect(t.db.query('INSERT INTO err_probe VALUES (1)')).rejects.toMatchObject({ code: '23505' });
    await expect(t.db.query('INSERT INTO err_probe SELECT unnest($1::int[])', [[1]])).rejects.toMatchObject({
      code: '23505',
    });
    await expect(
      t.db.transaction(async (tx) => {
        await tx.query('INSERT INTO err_probe VALUES (2)');
        await tx.query('INSERT INTO err_probe VALUES (1)');
      }),
    ).rejects.toMatchObject({ code: '23505' });
    const r = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM err_probe');
    expect(r.rows[0]?.n).toBe('1');
    await t.db.transaction((tx) => tx.query('INSERT INTO err_probe VALUES (3)'));
    expect((await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM err_probe')).rows[0]?.n).toBe('2');
  });
});
