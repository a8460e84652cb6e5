// The audit trail's retention job: partitions ahead, expired months dropped, nothing inside the
// retention period touched, and safe when two instances run it at once (both backends).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expiredMonths, monthOf, runAuditRetention } from '../../src/jobs/audit-retention.ts';
import { AUDIT_PARTITION_LOCK_SQL, auditPartitionMonths } from '../../src/store/audit-store.ts';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import { openDb } from '../../src/store/open-db.ts';
import type { VersionWrite } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

function auditWrite(id: string, recorded: string): VersionWrite {
  return {
    resourceType: 'AuditEvent',
    id,
    versionId: 1,
    lastUpdated: recorded,
    method: 'POST',
    content: JSON.stringify({
      resourceType: 'AuditEvent',
      id,
      recorded,
      meta: { versionId: '1', lastUpdated: recorded },
    }),
    index: {
      tokens: [['action', null, 'R']],
      references: [['entity', 'Patient/p1']],
      dates: [['date', recorded, recorded]],
      strings: [],
      numbers: [],
    },
  };
}

const NOW = new Date('2026-12-15T10:00:00.000Z');
const OPTIONS = { retentionMonths: 12, partitionsAhead: 2 };

describe('audit retention', () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb();
    // Events before any monthly partition exists: the upgrade's case, all in the default partition.
    await writeFirstVersions(t.db, [
      auditWrite('a-2025-10', '2025-10-20T00:00:00.000Z'),
      auditWrite('a-2025-11-last', '2025-11-30T23:59:59.999Z'),
      auditWrite('a-2025-12-first', '2025-12-01T00:00:00.000Z'),
      auditWrite('a-2026-06', '2026-06-10T12:00:00.000Z'),
      auditWrite('a-2026-12', '2026-12-14T08:00:00.000Z'),
    ]);
  });
  afterEach(async () => {
    await t.drop();
  });

  const ids = async (table: string) =>
    (await t.db.query<{ id: string }>(`SELECT DISTINCT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id);

  it('keeps every month that reaches into the retention period and drops only the months wholly before it', () => {
    expect(monthOf(NOW, -12)).toBe('2025-12');
    expect(expiredMonths(['2025-10', '2025-11', '2025-12', '2026-01'], NOW, 12)).toEqual(['2025-10', '2025-11']);
    // On the first instant of a month, the month twelve before is the oldest kept.
    expect(expiredMonths(['2025-11', '2025-12'], new Date('2026-12-01T00:00:00.000Z'), 12)).toEqual(['2025-11']);
    expect(expiredMonths(['2025-11', '2025-12'], new Date('2026-11-30T23:59:59.999Z'), 12)).toEqual([]);
  });

  it('creates the months ahead, moves waiting events into their months and drops only expired partitions', async () => {
    const r = await runAuditRetention(t.db, OPTIONS, NOW);
    expect(r?.created).toEqual(['2025-10', '2025-11', '2025-12', '2026-06', '2026-12', '2027-01', '2027-02']);
    expect(r?.dropped).toEqual(['2025-10', '2025-11']);
    expect(await auditPartitionMonths(t.db)).toEqual(['2025-12', '2026-06', '2026-12', '2027-01', '2027-02']);
    const kept = ['a-2025-12-first', 'a-2026-06', 'a-2026-12'];
    expect(await ids('audit_events')).toEqual(kept);
    expect(await ids('audit_event_keys')).toEqual(kept);
    expect(await ids('audit_events_default')).toEqual([]);
    // New events land in their month's partition.
    await writeFirstVersions(t.db, [auditWrite('a-2027-01', '2027-01-03T00:00:00.000Z')]);
    expect(await ids('audit_events_y2027m01')).toEqual(['a-2027-01']);

    // A month later, with a longer retention, nothing more is old enough; with the same one, one month goes.
    const month = new Date('2027-01-15T00:00:00Z');
    expect(await runAuditRetention(t.db, { ...OPTIONS, retentionMonths: 13 }, month)).toEqual({
      created: ['2027-03'],
      dropped: [],
    });
    expect(await runAuditRetention(t.db, OPTIONS, month)).toEqual({ created: [], dropped: ['2025-12'] });
    expect(await ids('audit_events')).toEqual(['a-2026-06', 'a-2026-12', 'a-2027-01']);
  });

  it('is safe when two instances run it at once: each month created and dropped exactly once', async () => {
    // PostgreSQL: a second pool on the same schema, as a second instance would open. PGlite has one
    // owner per data directory, so there both runs share the one handle (and are serialised).
    const second =
      t.schema && process.env.DATABASE_URL
        ? await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir: '', schema: t.schema, poolSize: 2 })
        : t.db;
    try {
      const [a, b] = await Promise.all([
        runAuditRetention(t.db, OPTIONS, NOW),
        runAuditRetention(second, OPTIONS, NOW),
      ]);
      const done = [a, b].filter((x) => x !== undefined);
      expect(done.length).toBeGreaterThan(0);
      expect(done.flatMap((x) => x.dropped).sort()).toEqual(['2025-10', '2025-11']);
      expect(done.flatMap((x) => x.created)).toHaveLength(7);
      expect(await auditPartitionMonths(t.db)).toEqual(['2025-12', '2026-06', '2026-12', '2027-01', '2027-02']);
      expect(await ids('audit_events')).toEqual(['a-2025-12-first', 'a-2026-06', 'a-2026-12']);
      if (second !== t.db) {
        // While one instance holds the lock, another does nothing at all.
        await t.db.transaction(async (tx) => {
          await tx.query(`SELECT pg_advisory_xact_lock(${AUDIT_PARTITION_LOCK_SQL})`);
          expect(await runAuditRetention(second, OPTIONS, new Date('2028-06-15T00:00:00Z'))).toBeUndefined();
        });
        expect(await auditPartitionMonths(t.db)).toEqual(['2025-12', '2026-06', '2026-12', '2027-01', '2027-02']);
      }
    } finally {
      if (second !== t.db) await second.close();
    }
  });
});
