// Resources WRITTEN FOR THE TESTS (Basic resources and index rows made up for them). A next
// version's index rows are brought to the new version's by difference: the stored rows end up
// exactly as written, and rows the version did not change are left where they were (issue 20).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IndexRows } from '../../src/shared/index-rows.ts';
import { writeNextVersions } from '../../src/store/batch-update.ts';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import type { VersionWrite } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

function basic(id: string, versionId: number, index: IndexRows | undefined, method = 'PUT'): VersionWrite {
  const content = JSON.stringify({ resourceType: 'Basic', id, meta: { versionId: String(versionId) } });
  return {
    resourceType: 'Basic',
    id,
    versionId,
    lastUpdated: new Date(Date.UTC(2021, 2, versionId)).toISOString(),
    method: method as VersionWrite['method'],
    content: method === 'DELETE' ? undefined : content,
    index,
  };
}

const TABLES = {
  sp_token: 'param, system, code',
  sp_reference: 'param, target',
  sp_date:
    "param, to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS lo, to_char(hi AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS hi",
  sp_string: 'param, value',
  sp_number: 'param, value::float8 AS value, system, code',
} as const;

/** Every index row of the resource, per table, sorted; with each row's physical place (ctid). */
async function indexOf(t: TestDb, id: string): Promise<Record<string, { row: string; at: string }[]>> {
  const out: Record<string, { row: string; at: string }[]> = {};
  for (const [table, cols] of Object.entries(TABLES)) {
    const r = await t.db.query<Record<string, unknown> & { at: string }>(
      `SELECT ctid::text AS at, ${cols} FROM ${table} WHERE resource_type = 'Basic' AND id = $1`,
      [id],
    );
    out[table] = r.rows
      .map(({ at, ...rest }) => ({ row: JSON.stringify(Object.values(rest)), at }))
      .sort((a, b) => (a.row < b.row ? -1 : a.row > b.row ? 1 : 0));
  }
  return out;
}

const rowsOnly = (x: Record<string, { row: string }[]>): Record<string, string[]> =>
  Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v.map((r) => r.row)]));

/** The rows `index` should give, in indexOf's form. */
function expected(index: IndexRows): Record<string, string[]> {
  const sorted = (rows: unknown[][]): string[] => rows.map((r) => JSON.stringify(r)).sort();
  const day = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
  return {
    sp_token: sorted(index.tokens),
    sp_reference: sorted(index.references),
    sp_date: sorted(index.dates.map(([p, lo, hi]) => [p, day(lo), day(hi)])),
    sp_string: sorted(index.strings),
    sp_number: sorted(index.numbers),
  };
}

const V1: IndexRows = {
  tokens: [
    ['code', 'urn:x', 'a'],
    ['code', null, 'b'],
    ['status', 'urn:s', 'final'],
  ],
  references: Array.from({ length: 40 }, (_, i) => ['derived-from', `Observation/src-${i}`] as [string, string]),
  dates: [['date', '2021-03-01T00:00:00.000Z', '2021-03-01T23:59:59.999Z']],
  strings: [['name', 'kaposiform']],
  numbers: [['value', 12.5, 'http://unitsofmeasure.org', 'ng/mL']],
};

describe(`next versions' index rows by difference (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('leaves unchanged rows in place and writes only what changed', async () => {
    await t.db.transaction((tx) => writeFirstVersions(tx, [basic('b1', 1, V1, 'POST'), basic('b2', 1, V1, 'POST')]));
    const before = await indexOf(t, 'b1');
    expect(rowsOnly(before)).toEqual(expected(V1));

    // One source more, one less; a token's system from NULL to '' (not the same value); a number
    // changed; the date and the string as they were.
    const v2: IndexRows = {
      tokens: [
        ['code', 'urn:x', 'a'],
        ['code', '', 'b'],
        ['status', 'urn:s', 'final'],
      ],
      references: [...V1.references.slice(1), ['derived-from', 'Observation/src-new']],
      dates: V1.dates,
      strings: V1.strings,
      numbers: [['value', 13, 'http://unitsofmeasure.org', 'ng/mL']],
    };
    await t.db.transaction((tx) => writeNextVersions(tx, [basic('b1', 2, v2), basic('b2', 2, V1)]));
    const after = await indexOf(t, 'b1');
    expect(rowsOnly(after)).toEqual(expected(v2));

    // Unchanged rows kept their place; changed ones are new rows.
    const places = (x: { row: string; at: string }[]) => new Map(x.map((r) => [r.row, r.at]));
    const moved = (table: keyof typeof TABLES): string[] => {
      const was = places(before[table] ?? []);
      return (after[table] ?? []).filter((r) => was.get(r.row) !== r.at).map((r) => r.row);
    };
    expect(moved('sp_reference')).toEqual([JSON.stringify(['derived-from', 'Observation/src-new'])]);
    expect(moved('sp_token')).toEqual([JSON.stringify(['code', '', 'b'])]);
    expect(moved('sp_date')).toEqual([]);
    expect(moved('sp_string')).toEqual([]);
    expect(moved('sp_number')).toEqual([JSON.stringify(['value', 13, 'http://unitsofmeasure.org', 'ng/mL'])]);

    // A resource written with the same rows: none rewritten, and its new version is stored.
    const b2 = await indexOf(t, 'b2');
    expect(rowsOnly(b2)).toEqual(expected(V1));
    const version = await t.db.query<{ version_id: number }>(
      "SELECT version_id FROM resources WHERE resource_type = 'Basic' AND id = 'b2'",
    );
    expect(version.rows[0]?.version_id).toBe(2);
    const history = await t.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM resource_history WHERE resource_type = 'Basic' AND id IN ('b1', 'b2')",
    );
    expect(history.rows[0]?.n).toBe('2');
  });

  it('removes every row of a deleted version, and writes them again when it comes back', async () => {
    await t.db.transaction((tx) => writeNextVersions(tx, [basic('b2', 3, undefined, 'DELETE')]));
    expect(rowsOnly(await indexOf(t, 'b2'))).toEqual(
      expected({ tokens: [], references: [], dates: [], strings: [], numbers: [] }),
    );
    await t.db.transaction((tx) => writeNextVersions(tx, [basic('b2', 4, V1)]));
    expect(rowsOnly(await indexOf(t, 'b2'))).toEqual(expected(V1));
  });

  it('moves an identifier from one resource to another in one call', async () => {
    // The unique identifier index covers Observations: two swap their identifiers in one call.
    const obs = (id: string, versionId: number, identifier: string, method = 'PUT'): VersionWrite => ({
      ...basic(id, versionId, undefined, method),
      resourceType: 'Observation',
      content: JSON.stringify({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' } }),
      index: { tokens: [['identifier', 'urn:lab', identifier]], references: [], dates: [], strings: [], numbers: [] },
    });
    await t.db.transaction((tx) => writeFirstVersions(tx, [obs('o1', 1, 'A', 'POST'), obs('o2', 1, 'B', 'POST')]));
    await t.db.transaction((tx) => writeNextVersions(tx, [obs('o1', 2, 'B'), obs('o2', 2, 'A')]));
    const r = await t.db.query<{ id: string; code: string }>(
      "SELECT id, code FROM sp_token WHERE resource_type = 'Observation' AND param = 'identifier' ORDER BY id",
    );
    expect(r.rows).toEqual([
      { id: 'o1', code: 'B' },
      { id: 'o2', code: 'A' },
    ]);
  });
});
