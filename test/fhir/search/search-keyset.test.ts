// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
// Pages read by keyset (a date filter driving the search, or an explicit _sort): following the next
// cursors gives every match exactly once, in the documented order, the same set as a brute-force
// evaluation of the index rows, and nothing created after the first page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearch } from '../../../src/fhir/search/parse-search.ts';
import { encodeCursor } from '../../../src/shared/search-request.ts';
import { runSearch } from '../../../src/store/search-store.ts';
import { rebuildComboRows, seedObservations } from '../../support/bulk-seed.ts';
import { openTestDb, type TestDb } from '../../support/test-db.ts';

const BASE = 'http://test/fhir';
const LOINC = 'http://loinc.org';

interface Row {
  id: string;
  lo: number;
  hi: number;
}

describe('search pages by keyset', () => {
  let t: TestDb;
  /** Per Observation: its date rows, whether it has code 777-3, its subject, its created_seq. */
  let dates: Map<string, Row[]>;
  let codeOf: Map<string, string>;
  let subjectOf: Map<string, string>;
  let seqOf: Map<string, number>;

  const load = async () => {
    const db = t.db;
    dates = new Map();
    for (const r of (
      await db.query<{ id: string; lo: string; hi: string }>(
        `SELECT id, to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lo,
                to_char(hi AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS hi
         FROM sp_date WHERE resource_type = 'Observation' AND param = 'date'`,
      )
    ).rows) {
      const list = dates.get(r.id) ?? [];
      list.push({ id: r.id, lo: Date.parse(r.lo), hi: Date.parse(r.hi) });
      dates.set(r.id, list);
    }
    codeOf = new Map(
      (
        await db.query<{ id: string; code: string }>(
          `SELECT id, code FROM sp_token WHERE resource_type = 'Observation' AND param = 'code'`,
        )
      ).rows.map((r) => [r.id, r.code]),
    );
    subjectOf = new Map(
      (
        await db.query<{ id: string; target: string }>(
          `SELECT id, target FROM sp_reference WHERE resource_type = 'Observation' AND param = 'subject'`,
        )
      ).rows.map((r) => [r.id, r.target]),
    );
    seqOf = new Map(
      (
        await db.query<{ id: string; seq: string }>(
          `SELECT id, created_seq::text AS seq FROM resources WHERE resource_type = 'Observation'`,
        )
      ).rows.map((r) => [r.id, Number(r.seq)]),
    );
  };

  /** Every page of a search, by following the cursors: the ids in order. */
  const walk = async (query: string, between?: () => Promise<void>): Promise<string[]> => {
    const ids: string[] = [];
    let params = new URLSearchParams(query);
    for (let page = 0; page < 1000; page++) {
      const result = await runSearch(t.db, parseSearch('Observation', params, true), BASE);
      ids.push(...result.matches.map((m) => m.id));
      if (!result.next) return ids;
      if (page === 0 && between) await between();
      params = new URLSearchParams(query);
      params.set('_cursor', encodeCursor(result.next));
    }
    throw new Error('no last page');
  };

  beforeAll(async () => {
    t = await openTestDb();
    // 900 results of 3 patients over 365 days: two or three share each date, codes cycle by fours.
    await seedObservations(t.db, { prefix: 'k', count: 900, patients: 3 });
    const db = t.db;
    const add = (id: string, lo: string, hi: string) =>
      db.query(`INSERT INTO sp_date (resource_type, id, param, lo, hi) VALUES ('Observation', $1, 'date', $2, $3)`, [
        id,
        lo,
        hi,
      ]);
    // Several dates of one parameter on one resource (as Timing or repeated elements give), all
    // on results of code 777-3: k-1 (a January date) gains one in March; k-2, moved into March,
    // gains the same later March date twice; k-12 gets one in 2021 and one in 2023 instead, and
    // matches ge/lt by different rows.
    await add('k-1', '2022-03-10T00:00:00Z', '2022-03-10T00:00:01Z');
    await db.query(
      `UPDATE sp_date SET lo = '2022-03-20T00:00:00Z', hi = '2022-03-20T00:00:01Z' WHERE resource_type = 'Observation' AND id = 'k-2'`,
    );
    await add('k-2', '2022-03-21T00:00:00Z', '2022-03-21T00:00:01Z');
    await add('k-2', '2022-03-21T00:00:00Z', '2022-03-21T00:00:01Z');
    await db.query(`DELETE FROM sp_date WHERE resource_type = 'Observation' AND id = 'k-12'`);
    await add('k-12', '2021-06-01T00:00:00Z', '2021-06-02T00:00:00Z');
    await add('k-12', '2023-06-01T00:00:00Z', '2023-06-02T00:00:00Z');
    // One of k-p1's results of 777-3 without a date (sorts last), two of them on one instant.
    await db.query(`DELETE FROM sp_date WHERE resource_type = 'Observation' AND id = 'k-13'`);
    await db.query(
      `UPDATE sp_date SET lo = '2022-05-05T00:00:00Z', hi = '2022-05-05T00:00:01Z'
       WHERE resource_type = 'Observation' AND id IN ('k-25', 'k-37')`,
    );
    // The combined index's columns of the code rows as the write path would give them from these rows.
    await rebuildComboRows(db);
    await db.exec('ANALYZE');
    await load();
  });
  afterAll(async () => {
    await t.drop();
  });

  const march = [Date.parse('2022-03-01T00:00:00Z'), Date.parse('2022-04-01T00:00:00Z')] as const;

  it('a month of one measure (ge/lt): every match once, newest first, whatever the page size', async () => {
    const [from, to] = march;
    const expected = [...dates.entries()]
      .filter(
        ([id, rows]) => codeOf.get(id) === '777-3' && rows.some((r) => r.hi > from) && rows.some((r) => r.lo < to),
      )
      .map(([id, rows]) => ({ id, key: Math.max(...rows.filter((r) => r.lo < to).map((r) => r.lo)) }))
      .sort((a, b) => b.key - a.key || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .map((e) => e.id);
    for (const id of ['k-1', 'k-2', 'k-12']) expect(expected).toContain(id);
    expect(expected.length).toBeGreaterThan(20);
    for (const count of [1, 7, 100]) {
      const ids = await walk(`code=${LOINC}|777-3&date=ge2022-03-01&date=lt2022-04-01&_count=${count}`);
      expect(ids).toEqual(expected);
    }
    // The same set as the created_seq order of a search the date cannot drive (gt, not lt).
    const other = await walk(`code=${LOINC}|777-3&date=gt2022-02-28&date=le2022-03-31&_count=13`);
    expect(new Set(other)).toEqual(new Set(expected));
    expect(other).toHaveLength(expected.length);
  });

  it('a month given as one date (eq): every match once, oldest first', async () => {
    const [from, to] = march;
    const expected = [...dates.entries()]
      .filter(([id, rows]) => codeOf.get(id) === '3255-7' && rows.some((r) => r.lo >= from && r.hi <= to))
      .map(([id, rows]) => ({ id, key: Math.min(...rows.filter((r) => r.lo >= from && r.hi <= to).map((r) => r.lo)) }))
      .sort((a, b) => a.key - b.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((e) => e.id);
    expect(expected.length).toBeGreaterThan(10);
    expect(await walk(`code=${LOINC}|3255-7&date=2022-03&_count=4`)).toEqual(expected);
  });

  it('an explicit _sort pages by its values, missing values last, ties by creation', async () => {
    const rows = [...seqOf.keys()]
      .filter((id) => subjectOf.get(id) === 'Patient/k-p1' && codeOf.get(id) === '777-3')
      .map((id) => {
        const ds = dates.get(id);
        return { id, key: ds ? Math.max(...ds.map((r) => r.hi)) : undefined, seq: seqOf.get(id) ?? 0 };
      });
    const desc = [...rows]
      .sort((a, b) =>
        a.key === b.key ? a.seq - b.seq : a.key === undefined ? 1 : b.key === undefined ? -1 : b.key - a.key,
      )
      .map((r) => r.id);
    expect(desc.at(-1)).toBe('k-13');
    for (const count of [1, 6]) {
      expect(await walk(`subject=Patient/k-p1&code=${LOINC}|777-3&_sort=-date&_count=${count}`)).toEqual(desc);
    }
    const asc = [...rows]
      .map((r) => {
        const ds = dates.get(r.id);
        return { ...r, key: ds ? Math.min(...ds.map((d) => d.lo)) : undefined };
      })
      .sort((a, b) =>
        a.key === b.key ? a.seq - b.seq : a.key === undefined ? 1 : b.key === undefined ? -1 : a.key - b.key,
      )
      .map((r) => r.id);
    expect(await walk(`subject=Patient/k-p1&code=${LOINC}|777-3&_sort=date&_count=5`)).toEqual(asc);
  });

  it('leaves out what was created after the first page, and refuses a forged cursor', async () => {
    const query = `code=${LOINC}|777-3&date=ge2022-03-01&date=lt2022-04-01&_count=10`;
    const before = await walk(query);
    const after = await walk(query, async () => {
      // 400 more, some of them this measure in March (after the first page was read).
      await seedObservations(t.db, { prefix: 'k2', count: 400, patients: 3 });
    });
    expect(after).toEqual(before);
    const bad = new URLSearchParams(query);
    bad.set('_cursor', encodeCursor({ bound: '1', keys: ["2022-03-01' OR 1=1"], id: 'x' }));
    await expect(runSearch(t.db, parseSearch('Observation', bad, true), BASE)).rejects.toThrow(/cursor/);
  });
});
