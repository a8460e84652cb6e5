// Fixtures WRITTEN FOR THE TESTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/store/db.ts';
import type { VersionWrite } from '../../src/store/resource-store.ts';
import { WriteBatcher } from '../../src/store/write-batcher.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

function observation(id: string, identifier: string, text = 'x'): VersionWrite {
  return {
    resourceType: 'Observation',
    id,
    versionId: 1,
    lastUpdated: '2022-01-10T00:00:00.000Z',
    method: 'POST',
    content: JSON.stringify({ resourceType: 'Observation', id, note: [{ text }] }),
    index: {
      tokens: [['identifier', 'urn:lab', identifier]],
      references: [['subject', 'Patient/p1']],
      dates: [],
      strings: [],
      numbers: [],
    },
  };
}

describe(`group commit of single creates (${testBackend()})`, () => {
  let t: TestDb;
  let statements = 0;
  let counting: Queryable;
  beforeAll(async () => {
    t = await openTestDb();
    counting = {
      query: (text, params) => {
        statements += 1;
        return t.db.query(text, params);
      },
      exec: (text) => t.db.exec(text),
    };
  });
  afterAll(async () => {
    await t.drop();
  });

  const count = async (): Promise<number> =>
    Number(
      (await t.db.query<{ n: string }>("SELECT count(*)::text AS n FROM resources WHERE resource_type = 'Observation'"))
        .rows[0]?.n,
    );

  it('writes requests that arrive together in one statement, and each learns it is committed', async () => {
    const batcher = new WriteBatcher(counting);
    statements = 0;
    const before = await count();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => batcher.submit([observation(`g-${i}`, `G-${i}`)], ['rs-1'])),
    );
    expect(statements).toBe(1);
    expect(await count()).toBe(before + 20);
    const marks = await t.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM outcome_marks WHERE research_subject_id = 'rs-1'",
    );
    expect(Number(marks.rows[0]?.n)).toBeGreaterThanOrEqual(1);
  });

  it('gives a re-delivered result its own unique violation, and still commits the others', async () => {
    const batcher = new WriteBatcher(counting);
    await batcher.submit([observation('dup-original', 'DUP-1')]);
    const before = await count();
    const results = await Promise.allSettled([
      batcher.submit([observation('b-1', 'B-1')]),
      batcher.submit([observation('dup-again', 'DUP-1')]),
      batcher.submit([observation('b-2', 'B-2')]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
      code: '23505',
      constraint: 'sp_token_observation_identifier',
    });
    expect(await count()).toBe(before + 2);
    const again = await t.db.query("SELECT 1 FROM resources WHERE id = 'dup-again'");
    expect(again.rows).toHaveLength(0);
  });

  it('keeps bodies byte for byte: quotes, backslashes, non-ASCII', async () => {
    const batcher = new WriteBatcher(t.db);
    const text = 'say "hi" \\ back\\slash, ü, 𝄞, {"json":[1]}\n';
    const w = observation('odd-text', 'ODD-1', text);
    await Promise.all([batcher.submit([w]), batcher.submit([observation('odd-2', 'ODD-2', text)])]);
    const r = await t.db.query<{ content: string }>("SELECT content FROM resources WHERE id = 'odd-text'");
    expect(r.rows[0]?.content).toBe(w.content);
    expect((JSON.parse(r.rows[0]?.content as string) as { note: { text: string }[] }).note[0]?.text).toBe(text);
  });

  it('splits a queue larger than one statement may carry', async () => {
    const batcher = new WriteBatcher(counting, { maxWrites: 5, maxInFlight: 1 });
    statements = 0;
    await Promise.all(Array.from({ length: 12 }, (_, i) => batcher.submit([observation(`s-${i}`, `S-${i}`)])));
    expect(statements).toBe(3);
  });
});
