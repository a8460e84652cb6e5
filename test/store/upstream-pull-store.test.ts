// Fixtures WRITTEN FOR THE TESTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { savePullCursor } from '../../src/store/upstream-pull-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

describe(`the upstream pull cursor (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  const cursor = async (subject: string) =>
    (
      await t.db.query<{ last_updated: string | null; seen_at_cursor: string[] }>(
        'SELECT last_updated, seen_at_cursor FROM upstream_pull_cursors WHERE research_subject_id = $1',
        [subject],
      )
    ).rows[0];

  it('keeps what was fed at the cursor instant: added to at the same instant, replaced when it moves on', async () => {
    await savePullCursor(t.db, 'rs-1', 'p-1', '2022-03-01T08:00:00.000Z', null, ['Observation/a/1']);
    expect(await cursor('rs-1')).toEqual({
      last_updated: '2022-03-01T08:00:00.000Z',
      seen_at_cursor: ['Observation/a/1'],
    });
    // The same instant written another way (a second page of the same pull): the lists join.
    await savePullCursor(t.db, 'rs-1', 'p-1', '2022-03-01T09:00:00+01:00', null, [
      'Observation/b/1',
      'Observation/a/1',
    ]);
    expect(await cursor('rs-1')).toEqual({
      last_updated: '2022-03-01T08:00:00.000Z',
      seen_at_cursor: ['Observation/a/1', 'Observation/b/1'],
    });
    // An older page (a pull racing another) moves nothing.
    await savePullCursor(t.db, 'rs-1', 'p-1', '2022-02-01T08:00:00.000Z', null, ['Observation/old/1']);
    expect((await cursor('rs-1'))?.seen_at_cursor).toEqual(['Observation/a/1', 'Observation/b/1']);
    // An error keeps both.
    await savePullCursor(t.db, 'rs-1', 'p-1', null, 'upstream 503');
    expect((await cursor('rs-1'))?.seen_at_cursor).toEqual(['Observation/a/1', 'Observation/b/1']);
    // A later instant starts a new list.
    await savePullCursor(t.db, 'rs-1', 'p-1', '2022-03-02T08:00:00.000Z', null, ['Observation/c/2']);
    expect(await cursor('rs-1')).toEqual({
      last_updated: '2022-03-02T08:00:00.000Z',
      seen_at_cursor: ['Observation/c/2'],
    });
  });
});
