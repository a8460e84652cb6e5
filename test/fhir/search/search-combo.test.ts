// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
// One subject's results of one code in date order, served by the combined index sp_token_combo (migration
// 0072): the same pages as the general sorted search and as a brute-force evaluation of the index
// rows, with ties, several codings, codes without a system, results without a date, paging by next
// links, and resources updated, deleted and created between pages; the code rows' combo columns kept equal to what
// the index rows give, whichever path wrote them.
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractIndexRows } from '../../../src/fhir/search/index-values.ts';
import { parseSearch } from '../../../src/fhir/search/parse-search.ts';
import { writeNextVersions } from '../../../src/store/batch-update.ts';
import { replaceIndexRows } from '../../../src/store/resource-store.ts';
import { ParamList } from '../../../src/store/search-conditions.ts';
import { whereClause } from '../../../src/store/search-store.ts';
import { searchPage, walkBoth as walkBothSearches } from '../../support/search-pages.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const LOINC = 'http://loinc.org';
const LOCAL = 'urn:oid:1.2.3.local';

/** What the migration's backfill gives from the index rows: what the code rows must always carry. */
const FROM_INDEX_ROWS = `
  SELECT g.id, g.target AS subject, k.system, k.code,
         coalesce(d.lo, 'infinity')::text AS lo, coalesce(d.hi, '-infinity')::text AS hi
  FROM sp_reference g
  JOIN sp_token k ON k.resource_type = g.resource_type AND k.id = g.id AND k.param = 'code' AND k.code IS NOT NULL
  JOIN resources r ON r.resource_type = g.resource_type AND r.id = g.id AND NOT r.deleted
  LEFT JOIN (SELECT x.id, min(x.lo) AS lo, max(x.hi) AS hi FROM sp_date x
             WHERE x.resource_type = 'Observation' AND x.param = 'date' GROUP BY x.id) d ON d.id = g.id
  WHERE g.resource_type = 'Observation' AND g.param = 'subject'
  ORDER BY 1, 2, 3, 4`;
const STORED = `SELECT id, subject, system, code, date_lo::text AS lo, date_hi::text AS hi
  FROM sp_token WHERE resource_type = 'Observation' AND subject IS NOT NULL ORDER BY 1, 2, 3, 4`;
/** Token rows carrying combo columns that are not a code row of an Observation: must be none. */
const STRAY = `SELECT resource_type, id, param FROM sp_token
  WHERE (subject IS NOT NULL OR date_lo IS NOT NULL OR date_hi IS NOT NULL OR date_many IS NOT NULL)
    AND (resource_type <> 'Observation' OR param <> 'code')`;

type Coding = [system: string | undefined, code: string];
const obs = (id: string, subject: string, codings: Coding[], date?: string | [string, string]): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: codings.map(([system, code]) => (system ? { system, code } : { code })) },
  subject: { reference: subject },
  ...(typeof date === 'string' ? { effectiveDateTime: date } : {}),
  ...(Array.isArray(date) ? { effectivePeriod: { start: date[0], end: date[1] } } : {}),
});

describe('one subject’s measure in date order (sp_token_combo)', () => {
  let s: TestService;
  const put = async (o: Observation) => {
    const res = await s.call(`/fhir/Observation/${o.id}`, { method: 'PUT', body: JSON.stringify(o) });
    expect(res.status).toBeLessThan(300);
  };
  const del = async (id: string) => {
    const res = await s.call(`/fhir/Observation/${id}`, { method: 'DELETE' });
    expect(res.status).toBeLessThan(300);
  };

  beforeAll(async () => {
    s = await startTestService();
    const writes: Observation[] = [];
    // 60 results of Patient/c1 over a few dates (ties), codes cycling; some with two codings of one
    // code (LOINC and local), some with a code without system, some without a date, some periods.
    for (let i = 0; i < 60; i++) {
      const day = String(1 + (i % 7)).padStart(2, '0');
      const codings: Coding[] =
        i % 5 === 0
          ? [
              [LOINC, 'A'],
              [LOCAL, 'A'],
            ]
          : i % 5 === 1
            ? [[undefined, 'A']]
            : i % 5 === 2
              ? [[LOINC, 'B']]
              : [[LOINC, 'A']];
      const date =
        i % 11 === 0
          ? undefined
          : i % 4 === 0
            ? ([`2022-03-${day}`, `2022-04-${day}`] as [string, string])
            : `2022-03-${day}`;
      writes.push(obs(`c-${i}`, 'Patient/c1', codings, date));
    }
    // The same coding twice in one result: two identical code rows, one match.
    writes.push(
      obs(
        'c-twice',
        'Patient/c1',
        [
          [LOINC, 'A'],
          [LOINC, 'A'],
        ],
        '2022-03-04',
      ),
    );
    // Another patient and a Group subject with the same codes.
    for (let i = 0; i < 10; i++) writes.push(obs(`c2-${i}`, 'Patient/c2', [[LOINC, 'A']], '2022-03-03'));
    writes.push(obs('cg-1', 'Group/c1', [[LOINC, 'A']], '2022-03-03'));
    for (const o of writes.slice(0, 50)) await put(o);
    // The rest as one transaction of creates (first versions written together, src/store/batch-write.ts),
    // ids given by the server.
    const res = await s.call('/fhir', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: writes.slice(50).map((o) => ({
          resource: { ...o, id: undefined },
          request: { method: 'POST', url: 'Observation' },
        })),
      }),
    });
    expect(res.status, await res.text()).toBe(200);
  });
  afterAll(async () => {
    await s.stop();
  });

  const page = (path: string) => searchPage(s, path);
  const walkBoth = (a: string, b: string, between?: () => Promise<void>) => walkBothSearches(s, a, b, between);
  /** The same search without the combined index: a second subject filter the combo does not take. */
  const general = (q: string) => `${q}&subject:missing=false`;

  /** Brute force over the index rows: subject, code (with or without system), date order, ties by creation. */
  const bruteForce = async (subject: string, system: string | undefined, code: string, desc: boolean) => {
    const r = await s.testDb.db.query<{ id: string; lo: string | null; hi: string | null; seq: string }>(
      `SELECT r.id, (SELECT min(extract(epoch FROM lo)) FROM sp_date d WHERE d.resource_type = r.resource_type AND d.id = r.id AND d.param = 'date')::text AS lo,
              (SELECT max(extract(epoch FROM hi)) FROM sp_date d WHERE d.resource_type = r.resource_type AND d.id = r.id AND d.param = 'date')::text AS hi,
              r.created_seq::text AS seq
       FROM resources r WHERE r.resource_type = 'Observation' AND NOT r.deleted
         AND EXISTS (SELECT 1 FROM sp_reference x WHERE x.resource_type = r.resource_type AND x.id = r.id AND x.param = 'subject' AND x.target = $1)
         AND EXISTS (SELECT 1 FROM sp_token x WHERE x.resource_type = r.resource_type AND x.id = r.id AND x.param = 'code'
                     AND x.code = $2 AND ($3::text = '*' OR x.system IS NOT DISTINCT FROM nullif($3::text, '')))`,
      [subject, code, system ?? '*'],
    );
    const key = (x: { lo: string | null; hi: string | null }) => {
      const v = desc ? x.hi : x.lo;
      return v === null ? undefined : Number(v);
    };
    return r.rows
      .sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        if (ka === kb) return Number(a.seq) - Number(b.seq);
        if (ka === undefined) return 1;
        if (kb === undefined) return -1;
        return desc ? kb - ka : ka - kb;
      })
      .map((x) => x.id);
  };

  it('the combined index is the plan for one subject, one code, sorted by date', async () => {
    const plan = await s.testDb.db.query<Record<string, string>>(
      `EXPLAIN SELECT 1 FROM sp_token c WHERE c.resource_type = 'Observation' AND c.subject = 'Patient/c1' AND c.code = 'A'
       ORDER BY c.date_hi DESC LIMIT 5`,
    );
    expect(plan.rows.map((r) => Object.values(r)[0]).join('\n')).toMatch(/sp_token_combo/);
  });

  it('gives the pages of the general search and of brute force, every form of subject and code', async () => {
    const cases: [query: string, subject: string, system: string | undefined, code: string, desc: boolean][] = [
      [`subject=Patient/c1&code=${LOINC}|A&_sort=-date`, 'Patient/c1', LOINC, 'A', true],
      ['patient=c1&code=A&_sort=-date', 'Patient/c1', undefined, 'A', true],
      ['patient=Patient/c1&code=|A&_sort=date', 'Patient/c1', '', 'A', false],
      [`subject=Patient/c1&code=${LOCAL}|A&_sort=date`, 'Patient/c1', LOCAL, 'A', false],
      ['subject=Group/c1&code=A&_sort=-date', 'Group/c1', undefined, 'A', true],
      [`subject=Patient/c2&code=${LOINC}|A&_sort=-date`, 'Patient/c2', LOINC, 'A', true],
      [`subject=Patient/c1&code=${LOINC}|B&_sort=-date`, 'Patient/c1', LOINC, 'B', true],
      [`subject=Patient/c1&code=${LOINC}|none&_sort=-date`, 'Patient/c1', LOINC, 'none', true],
    ];
    for (const [q, subject, system, code, desc] of cases) {
      const expected = await bruteForce(subject, system, code, desc);
      if (subject === 'Patient/c1' && code === 'A' && (system === undefined || system === LOINC))
        expect(expected.length).toBeGreaterThan(20);
      for (const count of [1, 4, 100]) {
        const [combo, plain] = await walkBoth(`${q}&_count=${count}`, general(`${q}&_count=${count}`));
        expect(combo, `${q} _count=${count}`).toEqual(expected);
        expect(plain).toEqual(expected);
      }
    }
    // patient= names Patients only: a Group's results are not a patient's.
    expect((await page('/fhir/Observation?patient=Group/c1&code=A&_sort=-date')).ids).toEqual([]);
    // Other filters still apply: the general conditions on top of the combined index.
    const [withDate, plainDate] = await walkBoth(
      'subject=Patient/c1&code=A&date=ge2022-03-04&_sort=-date&_count=3',
      general('subject=Patient/c1&code=A&date=ge2022-03-04&_sort=-date&_count=3'),
    );
    expect(withDate.length).toBeGreaterThan(5);
    expect(withDate).toEqual(plainDate);
  });

  it('answers the subject and code of searches without _sort from sp_token_combo too: same pages, same counts', async () => {
    const queries = [
      'patient=c1&code=A',
      `subject=Patient/c1&code=${LOINC}|A&date=ge2022-03-04`,
      'patient=c1&code=A&date=lt2022-03-05',
      'patient=c1&code=|A&date=2022-03',
      `patient=c1&code=${LOCAL}|A&date=le2022-04-30&date=ge2022-03-02`,
      'subject=Group/c1&code=A&date=lt2023',
    ];
    for (const q of queries) {
      for (const count of [3, 100]) {
        const [combo, plain] = await walkBoth(`${q}&_count=${count}`, general(`${q}&_count=${count}`));
        expect(combo, q).toEqual(plain);
        if (q.startsWith('patient=c1&code=A')) expect(combo.length).toBeGreaterThan(10);
      }
      const total = async (query: string) => {
        const res = await s.call(`/fhir/Observation?${query}&_summary=count`);
        return ((await res.json()) as Bundle).total;
      };
      expect(await total(q)).toBe(await total(general(q)));
    }
    // The probe is in the statement: the subject and code filters become one EXISTS on the code rows.
    const where = whereClause(
      parseSearch('Observation', new URLSearchParams('patient=c1&code=A&date=lt2023'), true),
      new ParamList(),
      'http://test/fhir',
    );
    expect(where).toMatch(/FROM sp_token c WHERE .*c\.subject = /s);
    expect(where).not.toMatch(/sp_reference/);
  });

  it('pages stay those of the general search when results change between pages', async () => {
    const q = 'patient=c1&code=A&_sort=-date&_count=5';
    let round = 0;
    const [combo, plain] = await walkBoth(q, general(q), async () => {
      round++;
      // Moved to the newest date (already passed: not seen again), moved to the oldest, recoded,
      // deleted, and a new result after the first page (left out: created after the bound).
      await put(obs('c-3', 'Patient/c1', [[LOINC, 'A']], '2023-01-01'));
      await put(obs('c-9', 'Patient/c1', [[LOINC, 'A']], '2020-01-01'));
      await put(obs('c-8', 'Patient/c1', [[LOINC, 'B']], '2022-03-05'));
      await del('c-6');
      await put(obs('c-new', 'Patient/c1', [[LOINC, 'A']], '2022-03-04'));
    });
    expect(round).toBe(1);
    expect(combo).toEqual(plain);
    expect(combo).toContain('c-9');
    expect(combo).not.toContain('c-6');
    expect(combo).not.toContain('c-new');
    expect(new Set(combo).size).toBe(combo.length);
    // Afterwards, a fresh search sees the writes.
    const fresh = await walkBoth(
      'patient=c1&code=A&_sort=-date&_count=7',
      general('patient=c1&code=A&_sort=-date&_count=7'),
    );
    expect(fresh[0]).toEqual(await bruteForce('Patient/c1', undefined, 'A', true));
    expect(fresh[0]).toEqual(fresh[1]);
    expect(fresh[0][0]).toBe('c-3');
  });

  it('keeps the combo columns equal to what the index rows give: create, update, delete, batch update, reindex', async () => {
    const db = s.testDb.db;
    const stored = async () => (await db.query(STORED)).rows;
    const derived = async () => (await db.query(FROM_INDEX_ROWS)).rows;
    const stray = async () => (await db.query(STRAY)).rows;
    expect((await stored()).length).toBeGreaterThan(70);
    expect(await stored()).toEqual(await derived());
    // Deleted and re-created, a subject changed.
    await del('c-10');
    await put(obs('c-11', 'Patient/c2', [[LOINC, 'A']], '2022-03-02'));
    await put(
      obs(
        'c-10',
        'Patient/c1',
        [
          [LOINC, 'B'],
          [undefined, 'C'],
        ],
        ['2021-01-01', '2021-02-01'],
      ),
    );
    expect(await stored()).toEqual(await derived());
    // Open periods: a start only (hi is infinity), an end only (lo is -infinity).
    await put({ ...obs('c-15', 'Patient/c1', [[LOINC, 'A']]), effectivePeriod: { start: '2022-03-05' } });
    await put({ ...obs('c-16', 'Patient/c1', [[LOINC, 'A']]), effectivePeriod: { end: '2022-03-05' } });
    const open = (await stored()).filter((r) => ['c-15', 'c-16'].includes((r as { id: string }).id));
    expect(open.map((r) => [(r as { lo: string }).lo.startsWith('-'), (r as { hi: string }).hi])).toEqual([
      [false, 'infinity'],
      [true, expect.any(String)],
    ]);
    expect(await stored()).toEqual(await derived());
    // Many next versions in one statement (src/store/batch-update.ts), one of them a deletion.
    const moved = obs('c-12', 'Patient/c2', [[LOCAL, 'D']], '2024-01-01');
    await db.transaction((tx) =>
      writeNextVersions(tx, [
        {
          resourceType: 'Observation',
          id: 'c-12',
          versionId: 9,
          lastUpdated: new Date().toISOString(),
          method: 'PUT',
          content: JSON.stringify(moved),
          index: extractIndexRows(moved, 'http://test/fhir'),
        },
        {
          resourceType: 'Observation',
          id: 'c-13',
          versionId: 9,
          lastUpdated: new Date().toISOString(),
          method: 'DELETE',
          content: undefined,
          index: undefined,
        },
      ]),
    );
    const rows = await stored();
    expect(rows).toEqual(await derived());
    expect(rows.filter((r) => (r as { id: string }).id === 'c-13')).toEqual([]);
    expect(rows.filter((r) => (r as { id: string }).id === 'c-12')).toMatchObject([
      { subject: 'Patient/c2', code: 'D' },
    ]);
    // A reindex rewrites the rows in place.
    const again = obs('c-14', 'Patient/c3', [[LOINC, 'E']], '2019-05-05');
    await db.transaction((tx) =>
      replaceIndexRows(tx, 'Observation', 'c-14', extractIndexRows(again, 'http://test/fhir')),
    );
    const after = await stored();
    expect(after).toEqual(await derived());
    expect(await stray()).toEqual([]);
    expect(after.filter((r) => (r as { id: string }).id === 'c-14')).toMatchObject([
      { subject: 'Patient/c3', code: 'E' },
    ]);
  });

  it('refuses a forged cursor with a 400', async () => {
    const first = await page('/fhir/Observation?patient=c1&code=A&_sort=-date&_count=2');
    expect(first.next).toBeDefined();
    const url = new URL(`http://x${first.next}`);
    url.searchParams.set(
      '_cursor',
      Buffer.from(JSON.stringify({ bound: '1', after: '1', keys: ["x' OR 1=1"] })).toString('base64url'),
    );
    const res = await s.call(`${url.pathname}${url.search}`);
    expect(res.status).toBe(400);
  });
});
