// Fixtures WRITTEN FOR THE TESTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import type { Db, QueryResult } from '../../src/store/db.ts';
import { GateProbe } from '../../src/store/gate-probe.ts';
import type { VersionWrite } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const SYSTEM = 'urn:oid:1.2.156.112606.1.2.1';

function observation(n: number): VersionWrite {
  const id = `gp-${n}`;
  return {
    resourceType: 'Observation',
    id,
    versionId: 1,
    lastUpdated: '2022-01-10T00:00:00.000Z',
    method: 'POST',
    content: JSON.stringify({ resourceType: 'Observation', id }),
    index: { tokens: [['identifier', SYSTEM, `GP-${n}`]], references: [], dates: [], strings: [], numbers: [] },
  };
}

describe(`the ingest gate's shared probe (${testBackend()})`, () => {
  let t: TestDb;
  let statements = 0;
  let counted: Db;
  beforeAll(async () => {
    t = await openTestDb();
    await writeFirstVersions(t.db, [observation(1), observation(2)]);
    const db = t.db;
    counted = {
      backend: db.backend,
      query: <R extends object>(text: string, params?: unknown[]): Promise<QueryResult<R>> => {
        statements++;
        return db.query<R>(text, params);
      },
      exec: (text) => db.exec(text),
      transaction: (fn) => db.transaction(fn),
      close: () => Promise.resolve(),
    };
  });
  afterAll(async () => {
    await t.drop();
  });

  it('answers the requests of one turn with one statement: the enrollment version and each one’s stored identifiers', async () => {
    const version = (await t.db.query<{ v: string }>('SELECT version::text AS v FROM enrollment_state WHERE id = 1'))
      .rows[0]?.v;
    const probe = new GateProbe(counted);
    statements = 0;
    const [a, b, c, d] = await Promise.all([
      probe.probe([{ system: SYSTEM, value: 'GP-1' }]),
      probe.probe([]),
      probe.probe([
        { system: SYSTEM, value: 'GP-9' },
        { system: SYSTEM, value: 'GP-2' },
      ]),
      probe.probe([{ system: 'urn:other', value: 'GP-1' }]),
    ]);
    expect(statements).toBe(1);
    for (const r of [a, b, c, d]) expect(r?.version).toBe(version);
    expect(Object.fromEntries(a?.stored ?? [])).toEqual({ [`${SYSTEM}|GP-1`]: 'gp-1' });
    expect(b?.stored.size).toBe(0);
    expect(Object.fromEntries(c?.stored ?? [])).toEqual({ [`${SYSTEM}|GP-2`]: 'gp-2' });
    expect(d?.stored.size).toBe(0);
  });

  it('reads after it was asked: a version moved before the request is seen', async () => {
    // The statement (counted has no sole writer; on one, src/store/sole-writer.ts answers in process).
    const probe = new GateProbe(counted);
    const before = (await probe.probe([])).version;
    expect(before).toMatch(/^\d+$/);
    await t.db.query('UPDATE enrollment_state SET version = version + 1 WHERE id = 1');
    expect(Number((await probe.probe([])).version)).toBe(Number(before) + 1);
  });

  it('holds the requests that arrive while a statement runs for the next, which they share and which reads after them', async () => {
    const held: { release?: () => void } = {};
    let sent = 0;
    const slow: Db = {
      ...counted,
      query: async <R extends object>(text: string, params?: unknown[]): Promise<QueryResult<R>> => {
        sent++;
        if (sent === 1)
          await new Promise<void>((r) => {
            held.release = r;
          });
        return t.db.query<R>(text, params);
      },
    };
    const probe = new GateProbe(slow);
    const first = probe.probe([]);
    while (!held.release) await new Promise((r) => setImmediate(r));
    // Three requests in three turns while the first statement is unanswered, and a version move.
    const later: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      later.push(probe.probe([{ system: SYSTEM, value: 'GP-1' }]));
      await new Promise((r) => setImmediate(r));
    }
    expect(sent).toBe(1);
    const before = (await t.db.query<{ v: string }>('SELECT version::text AS v FROM enrollment_state WHERE id = 1'))
      .rows[0]?.v;
    await t.db.query('UPDATE enrollment_state SET version = version + 1 WHERE id = 1');
    held.release();
    await first;
    const answers = (await Promise.all(later)) as { version: string; stored: Map<string, string> }[];
    expect(sent).toBe(2);
    for (const a of answers) {
      expect(Number(a.version)).toBe(Number(before) + 1);
      expect(a.stored.get(`${SYSTEM}|GP-1`)).toBe('gp-1');
    }
  });
});
