import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/store/migrate.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

describe('migrations', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('creates the resource tables once and is idempotent', async () => {
    expect(await migrate(t.db)).toEqual([]);
    const r = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM resources');
    expect(r.rows[0]?.n).toBe('0');
  });
});
