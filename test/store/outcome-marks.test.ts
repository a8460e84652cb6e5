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
    expect(claimed.subjects.sort()).toEqual(['rs-a', 'rs-b']);
    // Five marks taken for two: a full batch, so more may be waiting.
    expect(claimed.marks).toBe(5);
    expect(await remaining()).toEqual(['rs-c']);
  });

  it('gives the marks back when the recomputation rolls back', async () => {
    await expect(
      t.db.transaction(async (tx) => {
        // One mark where ten could be taken: none was left.
        expect(await claimMarkedSubjects(tx, 10)).toEqual({ subjects: ['rs-c'], marks: 1 });
        throw new Error('recomputation failed');
      }),
    ).rejects.toThrow('recomputation failed');
    expect(await remaining()).toEqual(['rs-c']);
  });
});
