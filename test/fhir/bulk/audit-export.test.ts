// $export of the audit trail for archival (issue 22): admins only, system level, _since, NDJSON,
// from the audit tables, and never splitting the events of one instant across batches.
import type { AuditEvent } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFirstVersions } from '../../../src/store/batch-write.ts';
import type { VersionWrite } from '../../../src/store/resource-store.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';
import { ASYNC, download, kickoff, waitForManifest } from './bulk-helpers.ts';

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
    index: { tokens: [], references: [], dates: [['date', recorded, recorded]], strings: [], numbers: [] },
  };
}

describe('$export of AuditEvents', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ BULK_EXPORT_MIN_POLL_MS: '100', BULK_EXPORT_BATCH_SIZE: '3' });
    await writeFirstVersions(s.testDb.db, [
      auditWrite('ax-old', '2024-12-01T00:00:00.000Z'),
      // Four events of one instant: more than a batch.
      ...['ax-t1', 'ax-t2', 'ax-t3', 'ax-t4'].map((id) => auditWrite(id, '2025-01-01T00:00:00.000Z')),
      auditWrite('ax-a', '2025-01-02T00:00:00.000Z'),
      auditWrite('ax-b', '2025-01-02T00:00:00.001Z'),
    ]);
  });
  afterAll(async () => {
    await s.stop();
  });

  it('exports every AuditEvent recorded after _since, once each, as NDJSON', async () => {
    expect((await s.call('/fhir/Patient?_count=1')).status).toBe(200);
    const status = await kickoff(s, '/fhir/$export?_type=AuditEvent&_since=2024-12-15T00:00:00Z');
    const manifest = await waitForManifest(s, status);
    expect(manifest.error).toEqual([]);
    expect(manifest.output.map((o) => o.type)).toEqual(['AuditEvent']);
    const events = (await download(s, manifest.output[0]?.url as string)).map((l) => JSON.parse(l) as AuditEvent);
    const ids = events.map((e) => e.id as string);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith('ax-'))).toEqual(['ax-t1', 'ax-t2', 'ax-t3', 'ax-t4', 'ax-a', 'ax-b']);
    // The service's own AuditEvents (the search above) are there too, oldest first.
    expect(ids.length).toBeGreaterThan(6);
    const recorded = events.map((e) => e.recorded as string);
    expect(recorded).toEqual([...recorded].sort());
    expect(manifest.output[0]?.count).toBe(ids.length);
  });

  it('is for admins only, at system level only', async () => {
    expect((await s.call('/fhir/$export?_type=AuditEvent', { role: 'research', headers: ASYNC })).status).toBe(403);
    expect((await s.call('/fhir/Patient/$export?_type=AuditEvent', { headers: ASYNC })).status).toBe(400);
    expect(
      (await s.call('/fhir/$export?_type=AuditEvent&_typeFilter=AuditEvent%3Faction%3DR', { headers: ASYNC })).status,
    ).toBe(400);
  });
});
