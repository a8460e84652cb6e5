// Fixtures WRITTEN FOR THE TESTS (subject ids only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimMarkedSubjects } from '../../src/store/outcome-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

describe(`claiming outcome marks (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  const mark = (...subjects: string[]) =>
    t.db.query('INSERT INTO outcome_marks (research_subject_id) SELECT unnest($1::text[])', [subjects]);
  const remaining = async () =>
    (await t.db.query<{ s: string }>('SELECT research_subject_id AS s FROM outcome_marks ORDER BY mark_id')).rows.map(
      (r) => r.s,
    );

  it('takes the oldest marks and every other mark of the same subjects, so each is computed once', async () => {
    await mark('rs-a', 'rs-b', 'rs-a', 'rs-c', 'rs-a', 'rs-b');
    const claimed = await t.db.transaction((tx) => claimMarkedSubjects(tx, 2));
    expect(claimed.sort()).toEqual(['rs-a', 'rs-b']);
    expect(await remaining()).toEqual(['rs-c']);
  });

  it('gives the marks back when the recomputation rolls back', async () => {
    await expect(
      t.db.transaction(async (tx) => {
        expect(await claimMarkedSubjects(tx, 10)).toEqual(['rs-c']);
        throw new Error('recomputation failed');
      }),
    ).rejects.toThrow('recomputation failed');
    expect(await remaining()).toEqual(['rs-c']);
  });
});
