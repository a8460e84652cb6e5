// Two instances' workers draining one outbox at once (SKIP LOCKED + lease): each resource sent once.
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open-db.ts';
import { listOutbox } from '../../src/store/outbox-store.ts';
import { enqueueOutbox } from '../../src/writeback/outbox.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { bearerUpstream, outboxItem, worker } from './support.ts';

const HOST = 'https://ehr.test';

describe('concurrent outbox workers', () => {
  let t: TestDb;
  let second: Db;
  beforeAll(async () => {
    t = await openTestDb();
    second =
      t.schema && process.env.DATABASE_URL
        ? await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir: '', schema: t.schema, poolSize: 4 })
        : t.db;
  });
  afterAll(async () => {
    nock.cleanAll();
    if (second !== t.db) await second.close();
    await t.drop();
  });

  it('never sends one resource twice', async () => {
    const subjects = Array.from({ length: 120 }, (_, i) => `C${i}`);
    await t.db.transaction((tx) =>
      enqueueOutbox(
        tx,
        subjects.map((s) => outboxItem(s, 1)),
      ),
    );
    const writes = new Map<string, number>();
    nock(HOST)
      .persist()
      .put(/^\/fhir\/r4\/Observation\?identifier=/)
      .delay(5)
      .reply((req: Request) => {
        const key = new URL(req.url).searchParams.get('identifier') ?? '';
        writes.set(key, (writes.get(key) ?? 0) + 1);
        return [201, {}];
      });
    // A generous timeout: the machine is shared, and a timed-out request would (rightly) be retried later.
    const upstream = await bearerUpstream(`${HOST}/fhir/r4`, 10_000);
    const a = worker(t.db, upstream, { batchSize: 10 });
    const b = worker(second, upstream, { batchSize: 10 });
    const [ra, rb] = await Promise.all([a.drain(), b.drain()]);
    expect(ra.retrying + rb.retrying).toBe(0);
    expect(ra.delivered + rb.delivered).toBe(subjects.length);
    expect(writes.size).toBe(subjects.length);
    expect([...writes.values()].every((n) => n === 1)).toBe(true);
    expect((await listOutbox(t.db, 'delivered')).length).toBe(subjects.length);
  });
});
