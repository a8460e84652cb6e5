// Fixtures WRITTEN FOR THE TESTS (invented results; no real patient data).
// One code over a date range without _sort, served by sp_token_code_date (migration 0074): the same
// pages as the date-driven general search and as a brute-force evaluation of the index rows, with
// results without a subject, without a date, with periods, with several dates (Timing events, left
// out of the index and merged in), two codings of one code, ties on the date, paging by next links
// and writes between pages; the code rows' date columns kept equal to what the index rows give.
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearch } from '../../../src/fhir/search/parse-search.ts';
import { codeDatePlan } from '../../../src/store/search-code-date.ts';
import { searchPage, walkBoth as walkBothSearches } from '../../support/search-pages.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const LOINC = 'http://loinc.org';
const LOCAL = 'urn:oid:1.2.3.local';

type Coding = [system: string | undefined, code: string];
type When = string | [string, string] | string[][] | undefined;
const obs = (id: string, subject: string | undefined, codings: Coding[], when: When): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: codings.map(([system, code]) => (system ? { system, code } : { code })) },
  ...(subject ? { subject: { reference: subject } } : {}),
  ...(typeof when === 'string' ? { effectiveDateTime: when } : {}),
  ...(Array.isArray(when) && typeof when[0] === 'string'
    ? { effectivePeriod: { start: when[0] as string, end: when[1] as string } }
    : {}),
  // [[events]]: several `date` rows.
  ...(Array.isArray(when) && Array.isArray(when[0]) ? { effectiveTiming: { event: when[0] } } : {}),
});

/** What the code rows must carry: the resource's date envelope, and whether it has several dates. */
const DERIVED = `
  SELECT k.id, k.system, k.code, coalesce(d.lo, 'infinity')::text AS lo, coalesce(d.hi, '-infinity')::text AS hi,
         CASE WHEN d.n > 1 THEN true END AS many
  FROM sp_token k JOIN resources r ON r.resource_type = k.resource_type AND r.id = k.id AND NOT r.deleted
  LEFT JOIN (SELECT x.id, min(x.lo) AS lo, max(x.hi) AS hi, count(*) AS n FROM sp_date x
             WHERE x.resource_type = 'Observation' AND x.param = 'date' GROUP BY x.id) d ON d.id = k.id
  WHERE k.resource_type = 'Observation' AND k.param = 'code' ORDER BY 1, 2, 3`;
const STORED = `SELECT id, system, code, date_lo::text AS lo, date_hi::text AS hi, date_many AS many
  FROM sp_token WHERE resource_type = 'Observation' AND param = 'code' ORDER BY 1, 2, 3`;

describe('one code over a date range (sp_token_code_date)', () => {
  let s: TestService;
  const put = async (o: Observation) => {
    const res = await s.call(`/fhir/Observation/${o.id}`, { method: 'PUT', body: JSON.stringify(o) });
    expect(res.status, await res.text()).toBeLessThan(300);
  };
  const del = async (id: string) => {
    const res = await s.call(`/fhir/Observation/${id}`, { method: 'DELETE' });
    expect(res.status).toBeLessThan(300);
  };

  beforeAll(async () => {
    s = await startTestService();
    const writes: Observation[] = [];
    for (let i = 0; i < 90; i++) {
      const day = String(1 + (i % 9)).padStart(2, '0');
      const month = i % 3 === 0 ? '02' : '03';
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
      const when: When =
        i % 13 === 0
          ? undefined
          : i % 7 === 0
            ? [[`2022-${month}-${day}`, `2022-04-${day}`, `2022-01-${day}T10:00:00Z`]]
            : i % 4 === 0
              ? [`2022-${month}-${day}`, `2022-04-${day}`]
              : `2022-${month}-${day}`;
      // Every third without a subject (only sp_token_combo needs one).
      writes.push(obs(`d-${i}`, i % 3 === 1 ? undefined : `Patient/p${i % 4}`, codings, when));
    }
    for (const o of writes.slice(0, 60)) await put(o);
    // The rest as one transaction of creates (src/store/batch-write.ts).
    const res = await s.call('/fhir', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: writes
          .slice(60)
          .map((o) => ({ resource: { ...o, id: undefined }, request: { method: 'POST', url: 'Observation' } })),
      }),
    });
    expect(res.status, await res.text()).toBe(200);
  });
  afterAll(async () => {
    await s.stop();
  });

  const page = (path: string) => searchPage(s, path);
  const walkBoth = (a: string, b: string, between?: () => Promise<void>) => walkBothSearches(s, a, b, between, 300);
  /** The same search by the general date-driven path: a second code filter the plan does not take. */
  const general = (q: string) => `${q}&code:missing=false`;

  /**
   * Brute force over the index rows as the date-driven search defines it: every date filter met by
   * some `date` row; ordered by the lo of the latest (lt/le: newest first) or earliest (eq/ap) row
   * meeting the driving filter, then id.
   */
  const bruteForce = async (
    system: string | undefined,
    code: string,
    filters: ((lo: number, hi: number) => boolean)[],
    desc: boolean,
  ) => {
    const r = await s.testDb.db.query<{ id: string; lo: string; hi: string }>(
      `SELECT r.id, extract(epoch FROM d.lo)::text AS lo, extract(epoch FROM d.hi)::text AS hi
       FROM resources r JOIN sp_date d ON d.resource_type = r.resource_type AND d.id = r.id AND d.param = 'date'
       WHERE r.resource_type = 'Observation' AND NOT r.deleted
         AND EXISTS (SELECT 1 FROM sp_token x WHERE x.resource_type = r.resource_type AND x.id = r.id AND x.param = 'code'
                     AND x.code = $1 AND ($2::text = '*' OR x.system IS NOT DISTINCT FROM nullif($2::text, '')))`,
      [code, system ?? '*'],
    );
    const byId = new Map<string, [number, number][]>();
    for (const row of r.rows) byId.set(row.id, [...(byId.get(row.id) ?? []), [Number(row.lo), Number(row.hi)]]);
    const [drive, ...rest] = filters;
    const keyed: [string, number][] = [];
    for (const [id, rows] of byId) {
      if (!drive || !rest.every((f) => rows.some(([l, h]) => f(l, h)))) continue;
      const los = rows.filter(([l, h]) => drive(l, h)).map(([l]) => l);
      if (los.length > 0) keyed.push([id, desc ? Math.max(...los) : Math.min(...los)]);
    }
    // Ties by id in the database's collation.
    const rank = new Map(
      (
        await s.testDb.db.query<{ id: string }>(
          `SELECT id FROM resources WHERE resource_type = 'Observation' ORDER BY id`,
        )
      ).rows.map((row, i) => [row.id, i]),
    );
    const idOrder = (a: string, b: string) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0);
    return keyed
      .sort(([ia, ka], [ib, kb]) => (ka === kb ? idOrder(ia, ib) * (desc ? -1 : 1) : desc ? kb - ka : ka - kb))
      .map(([id]) => id);
  };
  const t = (d: string) => Date.parse(d) / 1000;

  it('plans one code and date filters on the index, and nothing else', () => {
    const plan = (q: string) => {
      const req = parseSearch('Observation', new URLSearchParams(q), true);
      return codeDatePlan(req, {
        filter: req.filters.find((f) => f.code === 'date') ?? req.filters[0]!,
        descending: true,
      });
    };
    expect(plan(`code=${LOINC}|A&date=ge2022-03-01&date=lt2022-04-01`)).toMatchObject({ system: LOINC, code: 'A' });
    expect(plan('code=A,B&date=lt2022-04-01')).toBeUndefined();
    expect(plan('code=A&code:missing=false&date=lt2022-04-01')).toBeUndefined();
    expect(plan('patient=p1&code=A&date=lt2022-04-01')).toBeUndefined();
    expect(plan('code=A&date=lt2022-04-01&_sort=date')).toBeUndefined();
    expect(plan('code:not=A&date=lt2022-04-01')).toBeUndefined();
    expect(plan('code=A&date:missing=false&date=lt2022-04-01')).toBeUndefined();
  });

  it('the month search reads sp_token_code_date', async () => {
    const plan = await s.testDb.db.query<Record<string, string>>(
      `EXPLAIN SELECT 1 FROM sp_token c WHERE c.resource_type = 'Observation' AND c.code = 'A'
         AND c.date_lo IS NOT NULL AND c.date_many IS NULL AND c.date_lo < '2022-04-01'
       ORDER BY c.date_lo DESC, c.id DESC LIMIT 5`,
    );
    expect(plan.rows.map((r) => Object.values(r)[0]).join('\n')).toMatch(/sp_token_code_date/);
  });

  it('gives the pages of the general search and of brute force', async () => {
    const ge = (d: string) => (_l: number, h: number) => h > t(d);
    const lt = (d: string) => (l: number) => l < t(d);
    const le = (end: string) => (l: number) => l < t(end);
    const eq = (d: string, end: string) => (l: number, h: number) => l >= t(d) && h <= t(end);
    const cases: [
      query: string,
      system: string | undefined,
      code: string,
      filters: ((l: number, h: number) => boolean)[],
      desc: boolean,
    ][] = [
      [`code=${LOINC}|A&date=ge2022-03-01&date=lt2022-04-01`, LOINC, 'A', [lt('2022-04-01'), ge('2022-03-01')], true],
      [`date=ge2022-03-01&code=${LOINC}|A&date=lt2022-04-01`, LOINC, 'A', [lt('2022-04-01'), ge('2022-03-01')], true],
      ['code=A&date=lt2022-03-05', undefined, 'A', [lt('2022-03-05')], true],
      ['code=|A&date=le2022-03', '', 'A', [le('2022-04-01')], true],
      [`code=${LOCAL}|A&date=2022-03`, LOCAL, 'A', [eq('2022-03-01', '2022-04-01')], false],
      [`code=${LOINC}|A&date=ap2022-02`, LOINC, 'A', [eq('2022-02-01', '2022-03-01')], false],
      [`code=${LOINC}|B&date=lt2023&date=ge2022-02-05`, LOINC, 'B', [lt('2023-01-01'), ge('2022-02-05')], true],
      [`code=${LOINC}|none&date=lt2023`, LOINC, 'none', [lt('2023-01-01')], true],
    ];
    for (const [q, system, code, filters, desc] of cases) {
      const expected = await bruteForce(system, code, filters, desc);
      if (code === 'A' && system === LOINC && !q.includes('ap')) expect(expected.length, q).toBeGreaterThan(15);
      for (const count of [1, 4, 100]) {
        const [fast, plain] = await walkBoth(`${q}&_count=${count}`, general(`${q}&_count=${count}`));
        expect(plain, `${q} general`).toEqual(expected);
        expect(fast, `${q} _count=${count}`).toEqual(expected);
      }
    }
    // Resources with several dates and without a subject are among the matches.
    const month = await bruteForce(LOINC, 'A', [lt('2022-04-01'), ge('2022-03-01')], true);
    expect(month).toContain('d-35');
    expect(month).toContain('d-10');
  });

  it('other filters still apply, and totals are those of the general search', async () => {
    for (const q of [
      `code=${LOINC}|A&date=lt2022-04-01&status=final`,
      'code=A&date=lt2022-04-01&status=amended',
      'code=A&date=lt2022-03-07&_id=d-3,d-4,d-21,d-35',
    ]) {
      const [fast, plain] = await walkBoth(`${q}&_count=2`, general(`${q}&_count=2`));
      expect(fast, q).toEqual(plain);
      const total = async (query: string) =>
        ((await (await s.call(`/fhir/Observation?${query}&_summary=count`)).json()) as Bundle).total;
      expect(await total(q)).toBe(await total(general(q)));
    }
  });

  it('pages stay those of the general search when results change between pages', async () => {
    const q = `code=${LOINC}|A&date=ge2022-03-01&date=lt2022-04-01&_count=4`;
    const [fast, plain] = await walkBoth(q, general(q), async () => {
      await put(obs('d-3', undefined, [[LOINC, 'A']], '2022-03-30'));
      await put(obs('d-9', 'Patient/p1', [[LOINC, 'A']], [['2022-03-02', '2022-03-29']]));
      await put(obs('d-8', undefined, [[LOINC, 'B']], '2022-03-05'));
      await del('d-6');
      await put(obs('d-new', undefined, [[LOINC, 'A']], '2022-03-04'));
    });
    expect(fast).toEqual(plain);
    expect(fast).not.toContain('d-new');
    expect(new Set(fast).size).toBe(fast.length);
    const fresh = await walkBoth(q, general(q));
    expect(fresh[0]).toEqual(fresh[1]);
    expect(fresh[0]).toContain('d-new');
  });

  it('keeps the date columns equal to what the index rows give, with or without a subject', async () => {
    const db = s.testDb.db;
    const stored = async () => (await db.query(STORED)).rows;
    const derived = async () => (await db.query(DERIVED)).rows;
    expect(await stored()).toEqual(await derived());
    expect((await stored()).filter((r) => (r as { many: boolean | null }).many === true).length).toBeGreaterThan(5);
    // Several dates down to one, one up to several, none.
    await put(obs('d-7', undefined, [[LOINC, 'A']], '2022-03-03'));
    await put(obs('d-1', undefined, [[LOINC, 'A']], [['2022-03-03', '2022-03-04']]));
    await put(obs('d-2', 'Patient/p2', [[LOINC, 'A']], undefined));
    expect(await stored()).toEqual(await derived());
  });

  it('refuses a forged cursor with a 400', async () => {
    const first = await page(`/fhir/Observation?code=${LOINC}|A&date=lt2022-04-01&_count=2`);
    expect(first.next).toBeDefined();
    const url = new URL(`http://x${first.next}`);
    url.searchParams.set(
      '_cursor',
      Buffer.from(JSON.stringify({ bound: '1', keys: ["x' OR 1=1"], id: 'x' })).toString('base64url'),
    );
    const res = await s.call(`${url.pathname}${url.search}`);
    expect(res.status).toBe(400);
  });
});
