// Fixtures WRITTEN FOR THE TESTS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import { findObservationIds, IDENTIFIER_LOOKUP_SQL } from '../../src/store/identifier-lookup.ts';
import type { VersionWrite } from '../../src/store/resource-store.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const SYSTEM = 'urn:oid:1.2.156.112606.1.2.1';

function observation(n: number): VersionWrite {
  const id = `obs-${n}`;
  return {
    resourceType: 'Observation',
    id,
    versionId: 1,
    lastUpdated: '2022-01-10T00:00:00.000Z',
    method: 'POST',
    content: JSON.stringify({ resourceType: 'Observation', id }),
    index: { tokens: [['identifier', SYSTEM, `LAB-${n}`]], references: [], dates: [], strings: [], numbers: [] },
  };
}

describe(`stored Observations by identifier (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
    // Enough rows that scanning them all would show; never ANALYZEd, as on a new store.
    for (let b = 0; b < 5; b++) {
      await writeFirstVersions(
        t.db,
        Array.from({ length: 1000 }, (_, i) => observation(b * 1000 + i)),
      );
    }
  });
  afterAll(async () => {
    await t.drop();
  });

  it('finds the stored ones and only those', async () => {
    const found = await findObservationIds(t.db, [
      { system: SYSTEM, value: 'LAB-7' },
      { system: SYSTEM, value: 'LAB-4999' },
      { system: SYSTEM, value: 'LAB-5000' },
      { system: 'urn:other', value: 'LAB-7' },
    ]);
    expect(Object.fromEntries(found)).toEqual({ [`${SYSTEM}|LAB-7`]: 'obs-7', [`${SYSTEM}|LAB-4999`]: 'obs-4999' });
    expect(await findObservationIds(t.db, [])).toEqual(new Map());
  });

  it('probes the identifier index once per identifier sent, without statistics', async () => {
    const sent = 100;
    const plan = await t.db.query<Record<string, string>>(`EXPLAIN ANALYZE ${IDENTIFIER_LOOKUP_SQL}`, [
      Array.from({ length: sent }, () => SYSTEM),
      Array.from({ length: sent }, (_, i) => `NEW-${i}`),
    ]);
    const text = plan.rows.map((r) => Object.values(r)[0]).join('\n');
    // The index condition binds both columns to the sent identifier, and nothing is filtered
    // after reading: the earlier form read all 5,000 stored identifiers for each one sent.
    expect(text).toMatch(/Index Cond: \(\(system = k\.system\) AND \(code = k\.code\)\)/);
    expect(text).not.toMatch(/Rows Removed by (Join )?Filter/);
    expect(text).toMatch(new RegExp(`loops=${sent}\\b`));
  });
});
