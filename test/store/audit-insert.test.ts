// The audit trail's group commit of AuditEvents alone (insertAuditEvents): small batches go as a
// statement prepared once per connection and batch size; every event and each of its search keys
// must land exactly as batch-write.ts writes them, whatever the size and whichever connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditWriter } from '../../src/app/audit-trail.ts';
import { buildAuditEvent } from '../../src/auth/audit-event.ts';
import { insertAuditEvents, searchAuditEvents } from '../../src/store/audit-store.ts';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

describe(`the audit trail's own insert (${testBackend()})`, () => {
  let t: TestDb;
  let writer: AuditWriter;
  beforeAll(async () => {
    t = await openTestDb();
    writer = new AuditWriter(t.db, 'http://localhost/fhir');
  });
  afterAll(async () => {
    await t.drop();
  });

  const eventFor = (patient: string) =>
    writer.toWrite(
      buildAuditEvent({
        action: 'E',
        outcome: '0',
        what: { type: 'Observation', query: `subject=Patient/${patient}` },
        entities: [{ reference: `Patient/${patient}`, type: 'Patient' }],
        sourceAddress: '127.0.0.1',
        recorded: new Date(),
        requestId: `req-${patient}`,
        httpMethod: 'GET',
        path: `/fhir/Observation?subject=Patient/${patient}`,
      }),
    );

  const keysOf = async (ids: string[]) =>
    (
      await t.db.query<{ id: string; param: string; system: string | null; value: string }>(
        'SELECT id, param, system, value FROM audit_event_keys WHERE id = ANY($1::text[]) ORDER BY id, param, value',
        [ids],
      )
    ).rows;

  it('writes batches of every size, prepared or not, on every pooled connection, twice over', async () => {
    const written: string[] = [];
    for (const size of [1, 2, 8, 9, 1, 2, 8, 9]) {
      // Several at once, so that several pooled connections prepare and reuse the statement.
      const batches = Array.from({ length: 6 }, (_, b) =>
        Array.from({ length: size }, (_, i) => eventFor(`ai-${size}-${b}-${i}-${written.length}`)),
      );
      await Promise.all(batches.map((batch) => insertAuditEvents(t.db, batch)));
      for (const batch of batches) written.push(...batch.map((w) => w.id));
    }
    const stored = await t.db.query<{ id: string; content: string }>(
      'SELECT id, content FROM audit_events WHERE id = ANY($1::text[])',
      [written],
    );
    expect(stored.rows.map((r) => r.id).sort()).toEqual([...written].sort());
    expect(new Set(written).size).toBe(written.length);
    // The keys are those batch-write.ts gives the same event: compare one written both ways.
    const mine = eventFor('ai-same');
    const theirs = { ...eventFor('ai-same'), id: `${mine.id}-b` };
    await insertAuditEvents(t.db, [mine]);
    await writeFirstVersions(t.db, [theirs]);
    const keys = await keysOf([mine.id, theirs.id]);
    const strip = (id: string) => keys.filter((k) => k.id === id).map(({ id: _, ...k }) => k);
    expect(strip(mine.id).length).toBeGreaterThan(2);
    expect(strip(mine.id)).toEqual(strip(theirs.id));
  });

  it('is found by the audit search, by patient', async () => {
    const w = eventFor('ai-found');
    await insertAuditEvents(t.db, [w]);
    const page = await searchAuditEvents(t.db, {
      keys: [{ param: 'entity', anyOf: [{ value: 'Patient/ai-found' }] }],
      newestFirst: true,
      count: 10,
      total: false,
    });
    expect(page.events.map((e) => e.id)).toEqual([w.id]);
  });
});
