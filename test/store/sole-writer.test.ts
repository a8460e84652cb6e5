// Fixtures WRITTEN FOR THE TESTS.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFirstVersions } from '../../src/store/batch-write.ts';
import type { VersionWrite } from '../../src/store/resource-store.ts';
import { SoleWriter } from '../../src/store/sole-writer.ts';
import { openTestDb, type TestDb, testBackend } from '../support/test-db.ts';

const SYSTEM = 'urn:oid:1.2.156.112606.1.2.1';

function write(resourceType: string, id: string, identifier?: string): VersionWrite {
  return {
    resourceType,
    id,
    versionId: 1,
    lastUpdated: '2022-01-10T00:00:00.000Z',
    method: 'POST',
    content: JSON.stringify({ resourceType, id }),
    index: {
      tokens: identifier ? [['identifier', SYSTEM, identifier]] : [],
      references: [],
      dates: [],
      strings: [],
      numbers: [],
    },
  };
}

describe(`what a sole writer knows in process (${testBackend()})`, () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('moves the enrollment version on ResearchSubject and Patient writes only', () => {
    const sole = new SoleWriter();
    const v0 = sole.enrollmentVersion;
    sole.written('Observation', write('Observation', 'o').index);
    expect(sole.enrollmentVersion).toBe(v0);
    sole.written('ResearchSubject', undefined);
    const v1 = sole.enrollmentVersion;
    expect(v1).not.toBe(v0);
    sole.written('Patient', write('Patient', 'p').index);
    const v2 = sole.enrollmentVersion;
    expect(v2).not.toBe(v1);
    // Once the statement is answered: again (a reload that ran before the write did is stale).
    sole.settled(['Observation', 'AuditEvent']);
    expect(sole.enrollmentVersion).toBe(v2);
    sole.settled(['Observation', 'Patient']);
    expect(sole.enrollmentVersion).not.toBe(v2);
  });

  it('never says an identifier stored before it loaded, or written since, is absent', async () => {
    await writeFirstVersions(t.db, [write('Observation', 'sw-1', 'SW-1'), write('Patient', 'sw-p', 'SW-P')]);
    const sole = new SoleWriter();
    sole.written('Observation', write('Observation', 'sw-2', 'SW-2').index);
    expect(sole.identifiersReady).toBe(false);
    await sole.loadIdentifiers(t.db);
    expect(sole.identifiersReady).toBe(true);
    expect(sole.mayBeStored({ system: SYSTEM, value: 'SW-1' })).toBe(true);
    expect(sole.mayBeStored({ system: SYSTEM, value: 'SW-2' })).toBe(true);
    // A Patient's identifier is not an Observation's; an identifier of another system neither.
    expect(sole.mayBeStored({ system: SYSTEM, value: 'SW-P' })).toBe(false);
    expect(sole.mayBeStored({ system: 'urn:other', value: 'SW-1' })).toBe(false);
    expect(sole.mayBeStored({ system: SYSTEM, value: 'SW-3' })).toBe(false);
  });

  it('is a capability of the embedded store only, recorded by its writes and transactions', async () => {
    const sole = t.db.soleWriter;
    if (testBackend() === 'postgresql') {
      expect(sole).toBeUndefined();
      return;
    }
    if (!sole) throw new Error('PGlite has no sole writer');
    const before = sole.enrollmentVersion;
    let inside = '';
    await expect(
      t.db.transaction(async (tx) => {
        await writeFirstVersions(tx, [write('ResearchSubject', 'sw-rs')]);
        inside = sole.enrollmentVersion;
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    // Moved by the write, and again when the transaction ended (what was read inside is stale).
    expect(inside).not.toBe(before);
    expect(sole.enrollmentVersion).not.toBe(inside);
    await writeFirstVersions(t.db, [write('Observation', 'sw-4', 'SW-4')]);
    expect(sole.mayBeStored({ system: SYSTEM, value: 'SW-4' })).toBe(true);
  });

  it('is fed by every store function that writes resources or their index rows', () => {
    const dir = join(import.meta.dirname, '..', '..', 'src');
    const writers: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          const text = readFileSync(p, 'utf8');
          if (
            /INSERT INTO (resources|sp_token|sp_reference)\b|UPDATE resources (r )?SET version_id|DELETE FROM (resources|sp_token|sp_reference)\b/.test(
              text,
            )
          )
            writers.push(p.slice(dir.length + 1));
        }
      }
    };
    walk(dir);
    expect(writers.sort()).toEqual(['store/batch-update.ts', 'store/batch-write.ts', 'store/resource-store.ts']);
    for (const f of writers) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text).toContain('q.soleWriter?.written(');
      expect(text).toContain('q.soleWriter?.settled(');
    }
  });
});
