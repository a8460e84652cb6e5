// Resources WRITTEN FOR THE TESTS (Basic resources with made-up text).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import type { VersionWrite } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

function basic(id: string, text: string): VersionWrite {
  const content = JSON.stringify({ resourceType: 'Basic', id, meta: { versionId: '1' }, text: { div: text } });
  return {
    resourceType: 'Basic',
    id,
    versionId: 1,
    lastUpdated: '2021-03-01T00:00:00.000Z',
    method: 'POST',
    content,
    index: { tokens: [['code', 'urn:x', id]], references: [], dates: [], strings: [], numbers: [] },
  };
}

describe(`first versions written together (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  const stored = async (id: string) =>
    (
      await t.db.query<{ content: string }>("SELECT content FROM resources WHERE resource_type = 'Basic' AND id = $1", [
        id,
      ])
    ).rows[0]?.content;

  it('keeps each body exactly as sent, quotes, backslashes and all', async () => {
    const tricky = 'say "hi" \\ back\\slash, {braces}, comma, 汉字, \u2028, NULL-ish null';
    const writes = [basic('b-1', tricky), basic('b-2', ''), basic('b-3', '"')];
    await writeFirstVersions(t.db, writes, ['rs-x']);
    for (const w of writes) expect(await stored(w.id)).toBe(w.content);
    const tokens = await t.db.query("SELECT id FROM sp_token WHERE resource_type = 'Basic' ORDER BY id");
    expect(tokens.rows.map((r) => r.id)).toEqual(['b-1', 'b-2', 'b-3']);
  });

  it('writes more bodies than the protocol has parameters for in one statement', async () => {
    const writes = Array.from({ length: 70_000 }, (_, i) => basic(`big-${i}`, `body ${i} "quoted"`));
    await writeFirstVersions(t.db, writes);
    const count = await t.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM resources WHERE resource_type = 'Basic' AND id LIKE 'big-%'",
    );
    expect(count.rows[0]?.n).toBe(70_000);
    expect(await stored('big-0')).toBe(writes[0]?.content);
    expect(await stored('big-69999')).toBe(writes[69_999]?.content);
  }, 120_000);
});
