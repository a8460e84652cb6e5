// A five-minute upstream outage under fake timers: nothing lost, nothing written twice, latest versions win.
import type { Observation } from '@medplum/fhirtypes';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listOutbox } from '../../src/store/outbox-store.ts';
import { enqueueOutbox } from '../../src/writeback/outbox.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { bearerUpstream, OUTCOME_SYSTEM, outboxItem, worker } from './support.ts';

const HOST = 'https://ehr.test';
const SUBJECTS = Array.from({ length: 30 }, (_, i) => `O${String(i + 1).padStart(2, '0')}`);

describe('an upstream outage of five minutes', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    vi.useRealTimers();
    nock.cleanAll();
    await t.drop();
  });

  it('delivers every resource exactly once, in its latest version, once upstream is back', async () => {
    // Only Date is faked: database drivers and sockets keep real timers.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.parse('2026-11-24T10:00:00Z');
    vi.setSystemTime(start);
    const outageEnd = start + 5 * 60_000;
    const accepted = new Map<string, number[]>();
    let refused = 0;
    let round = 0;
    nock(HOST)
      .persist()
      .put(/^\/fhir\/r4\/Observation\?identifier=/)
      .reply(async (req: Request) => {
        if (Date.now() < outageEnd) {
          refused += 1;
          // Alternate the ways an outage looks: rate limited, overloaded, bad gateway.
          const kind = refused % 3;
          if (kind === 0) return [429, { resourceType: 'OperationOutcome' }, { 'retry-after': '30' }];
          return [kind === 1 ? 503 : 502, { resourceType: 'OperationOutcome', issue: [] }];
        }
        const key = new URL(req.url).searchParams.get('identifier') ?? '';
        const body = (await req.json()) as Observation;
        const versions = accepted.get(key) ?? [];
        versions.push(body.valueQuantity?.value ?? -1);
        accepted.set(key, versions);
        return [versions.length === 1 ? 201 : 200, body];
      });

    const w = worker(t.db, await bearerUpstream(`${HOST}/fhir/r4`), { random: Math.random });
    await t.db.transaction((tx) =>
      enqueueOutbox(
        tx,
        SUBJECTS.map((s) => outboxItem(s, 1)),
      ),
    );
    // The delivery job every 5 s of (fake) time for 8 minutes; new versions of a third of the
    // resources are computed two minutes into the outage, and of one resource twice.
    for (let elapsed = 0; elapsed <= 8 * 60_000; elapsed += 5_000) {
      vi.setSystemTime(start + elapsed);
      if (elapsed === 120_000) {
        await t.db.transaction((tx) =>
          enqueueOutbox(
            tx,
            SUBJECTS.filter((_, i) => i % 3 === 0).map((s) => outboxItem(s, 2)),
          ),
        );
      }
      if (elapsed === 180_000) await t.db.transaction((tx) => enqueueOutbox(tx, [outboxItem('O01', 3, 999)]));
      await w.drain(undefined, 4_000);
      round += 1;
    }

    // Each round during the outage probes upstream once and stops: 60 rounds, at most 60 refusals.
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThanOrEqual(60);
    expect(round).toBe(97);
    expect(accepted.size).toBe(SUBJECTS.length);
    for (const [i, s] of SUBJECTS.entries()) {
      const expected = s === 'O01' ? [999] : i % 3 === 0 ? [152] : [151];
      expect(accepted.get(`${OUTCOME_SYSTEM}|km-response-${s}`), s).toEqual(expected);
    }
    const rows = await listOutbox(t.db, undefined);
    expect(rows.map((r) => r.status)).toEqual(SUBJECTS.map(() => 'delivered'));
    expect(rows.every((r) => r.deliveries === 1)).toBe(true);
  });
});
