// The audit tables (migration 0063): the upgrade moves AuditEvents and their search keys out of
// the clinical tables; writes route there; the search reads the key index (both backends).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchAuditEvents } from '../../src/store/audit-store.ts';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import { migrate } from '../../src/store/migrate.ts';
import { readCurrent } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

const event = (id: string, recorded: string) =>
  JSON.stringify({ resourceType: 'AuditEvent', id, recorded, meta: { versionId: '1', lastUpdated: recorded } });

describe('audit store', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('moves the AuditEvents of a store written before 0063, with their search keys, out of the clinical tables', async () => {
    // The store as it was: AuditEvents in resources and sp_*, next to a Patient that must stay.
    await t.db.exec(`DROP TABLE audit_events; DROP TABLE audit_event_keys;
      DELETE FROM schema_migrations WHERE name = '0063_audit_events.sql';`);
    await t.db.query(
      `INSERT INTO resources (resource_type, id, version_id, last_updated, content)
       VALUES ('AuditEvent', 'old-1', 1, '2026-10-02T10:00:00Z', $1), ('AuditEvent', 'old-2', 1, '2026-11-03T10:00:00Z', $2),
              ('Patient', 'p-1', 1, now(), '{"resourceType":"Patient","id":"p-1"}')`,
      [event('old-1', '2026-10-02T10:00:00.000Z'), event('old-2', '2026-11-03T10:00:00.000Z')],
    );
    await t.db.exec(`INSERT INTO sp_reference (resource_type, id, param, target) VALUES
        ('AuditEvent', 'old-1', 'entity', 'Patient/p-1'), ('AuditEvent', 'old-2', 'entity', 'Patient/p-2'),
        ('Observation', 'o-1', 'subject', 'Patient/p-1');
      INSERT INTO sp_token (resource_type, id, param, system, code) VALUES ('AuditEvent', 'old-1', 'action', NULL, 'R');
      INSERT INTO sp_date (resource_type, id, param, lo, hi) VALUES ('AuditEvent', 'old-1', 'date', now(), now());`);
    expect(await migrate(t.db)).toContain('0063_audit_events.sql');

    const left = await t.db.query<{ t: string }>(
      `SELECT resource_type AS t FROM resources UNION ALL SELECT resource_type FROM sp_reference
       UNION ALL SELECT resource_type FROM sp_token UNION ALL SELECT resource_type FROM sp_date`,
    );
    expect(left.rows.map((r) => r.t).sort()).toEqual(['Observation', 'Patient']);
    const page = await searchAuditEvents(t.db, {
      keys: [
        { param: 'entity', anyOf: [{ value: 'Patient/p-1' }] },
        { param: 'action', anyOf: [{ value: 'R' }] },
      ],
      newestFirst: true,
      count: 10,
      total: true,
    });
    expect(page.events.map((e) => [e.id, e.recorded])).toEqual([['old-1', '2026-10-02T10:00:00.000000Z']]);
    expect(page.total).toBe(1);
    expect((await readCurrent(t.db, 'AuditEvent', 'old-2'))?.content).toBe(event('old-2', '2026-11-03T10:00:00.000Z'));
  });

  it('writes AuditEvents to the audit tables in the statement that writes the resources beside them', async () => {
    const recorded = '2026-11-20T08:00:00.000Z';
    await writeFirstVersions(t.db, [
      {
        resourceType: 'Patient',
        id: 'p-3',
        versionId: 1,
        lastUpdated: recorded,
        method: 'POST',
        content: '{"resourceType":"Patient","id":"p-3"}',
        index: undefined,
      },
      {
        resourceType: 'AuditEvent',
        id: 'new-1',
        versionId: 1,
        lastUpdated: recorded,
        method: 'POST',
        content: event('new-1', recorded),
        index: {
          tokens: [['action', null, 'C']],
          // The same reference twice (an entity listed twice) is one key.
          references: [
            ['entity', 'Patient/p-3'],
            ['entity', 'Patient/p-3'],
          ],
          dates: [['date', recorded, recorded]],
          strings: [],
          numbers: [],
        },
      },
    ]);
    expect((await readCurrent(t.db, 'Patient', 'p-3'))?.id).toBe('p-3');
    const keys = await t.db.query<{ param: string; value: string }>(
      `SELECT param, value FROM audit_event_keys WHERE id = 'new-1' ORDER BY param`,
    );
    expect(keys.rows).toEqual([
      { param: 'action', value: 'C' },
      { param: 'entity', value: 'Patient/p-3' },
    ]);
    const all = await searchAuditEvents(t.db, { keys: [], newestFirst: false, count: 2, total: false });
    expect(all.events.map((e) => e.id)).toEqual(['old-1', 'old-2']);
    const rest = await searchAuditEvents(t.db, {
      keys: [],
      newestFirst: false,
      count: 2,
      total: false,
      after: all.next,
    });
    expect(rest.events.map((e) => e.id)).toEqual(['new-1']);
    expect(rest.next).toBeUndefined();
    const inMonth = await searchAuditEvents(t.db, {
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-12-01T00:00:00.000Z',
      keys: [{ param: 'entity', anyOf: [{ value: 'Patient/p-2' }, { value: 'Patient/p-3' }] }],
      newestFirst: true,
      count: 10,
      total: true,
    });
    expect(inMonth.events.map((e) => e.id)).toEqual(['new-1', 'old-2']);
    expect(inMonth.total).toBe(2);
  });
});
