// PGlite runs every statement in the service's thread, one at a time: a long job that gives way
// between its transactions must wait until a request caught by one has sent all its statements,
// not only its first (a read, then its AuditEvent a turn of the event loop later).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe.runIf(testBackend() === 'pglite')('waiting for the embedded store to be quiet (pglite)', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('is offered by the embedded store only', () => {
    expect(typeof t.db.whenQuiet).toBe('function');
  });

  it('waits for a request whose statements follow one another with short gaps, longer in all than quietMs', async () => {
    const whenQuiet = t.db.whenQuiet as NonNullable<typeof t.db.whenQuiet>;
    const events: string[] = [];
    const request = (async () => {
      await t.db.query('SELECT 1');
      events.push('read');
      // Eight statements, each after 10 ms of work and a turn of the event loop: more than 80 ms
      // in all, never 40 ms without one (the work holds the thread, so no timer can stretch a gap).
      for (let i = 0; i < 8; i++) {
        await turn();
        const from = performance.now();
        while (performance.now() - from < 10);
        await t.db.query('SELECT 2');
      }
      await turn();
      await t.db.query('SELECT 3');
      events.push('audit');
    })();
    await whenQuiet(40, 5_000);
    events.push('quiet');
    await request;
    expect(events).toEqual(['read', 'audit', 'quiet']);
  });

  // Another caller's statement can hold the thread past maxMs before the first turn (PGlite runs in
  // it): a request whose bytes arrived meanwhile is read only then, and must still go first.
  it('counts from the first turn after the call, not from the call', async () => {
    const whenQuiet = t.db.whenQuiet as NonNullable<typeof t.db.whenQuiet>;
    const events: string[] = [];
    const request = new Promise((r) => setTimeout(r, 0)).then(async () => {
      await t.db.query('SELECT 1');
      events.push('read');
      await turn();
      await t.db.query('SELECT 2');
      events.push('audit');
    });
    const quiet = whenQuiet(5, 50).then(() => events.push('quiet'));
    // The thread held for twice maxMs, as by a long statement.
    const from = performance.now();
    while (performance.now() - from < 100);
    await Promise.all([request, quiet]);
    expect(events).toEqual(['read', 'audit', 'quiet']);
  });

  it('returns after quietMs when nothing else runs, and after maxMs when the store is never quiet', async () => {
    const whenQuiet = t.db.whenQuiet as NonNullable<typeof t.db.whenQuiet>;
    let t0 = performance.now();
    await whenQuiet(5, 2_000);
    const idle = performance.now() - t0;
    expect(idle).toBeGreaterThanOrEqual(5);
    expect(idle).toBeLessThan(500);
    // A transaction open throughout, as a request's between its statements: never quiet, however
    // the process is scheduled (a stream of short statements leaves gaps when the machine is
    // loaded, and a gap of quietMs is quiet).
    let release = (): void => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const open = t.db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      await held;
    });
    t0 = performance.now();
    await whenQuiet(5, 100);
    const bounded = performance.now() - t0;
    release();
    await open;
    expect(bounded).toBeGreaterThanOrEqual(100);
    expect(bounded).toBeLessThan(1_000);
  });
});
