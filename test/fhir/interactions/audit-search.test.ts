// Fixtures WRITTEN FOR THE TESTS (invented data; no real patient data).
// The audit trail is served from its own tables (issue 22): read, vread and search of AuditEvent,
// admins only; nothing of it in the clinical tables, _history or $everything.
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';

const json = (r: unknown) => JSON.stringify(r);

describe('AuditEvent from the audit tables', () => {
  let s: TestService;
  let startedAt: string;
  beforeAll(async () => {
    s = await startTestService();
    startedAt = new Date(Date.now() - 1000).toISOString();
    await s.call('/fhir/Patient/as-1', { method: 'PUT', body: json({ resourceType: 'Patient', id: 'as-1' }) });
    await s.call('/fhir/Patient/as-2', { method: 'PUT', body: json({ resourceType: 'Patient', id: 'as-2' }) });
    for (let i = 0; i < 5; i++) expect((await s.call('/fhir/Patient/as-1')).status).toBe(200);
    expect((await s.call('/fhir/Patient/as-2')).status).toBe(200);
    // A refused read: recorded with outcome 4, not as a success.
    expect((await s.call('/fhir/Patient/as-1', { role: 'ehr-feed' })).status).toBe(403);
  });
  afterAll(async () => {
    await s.stop();
  });

  const search = async (query: string) => {
    const r = await s.call(`/fhir/AuditEvent?${query}`);
    expect(r.status).toBe(200);
    return (await r.json()) as Bundle<AuditEvent>;
  };
  const events = (b: Bundle<AuditEvent>) => b.entry?.map((e) => e.resource as AuditEvent) ?? [];

  it('finds who accessed a patient since a date, newest first, paged without repeats, total only when asked', async () => {
    const first = await search(`entity=Patient/as-1&date=ge${startedAt}&action=R&_count=2`);
    expect(first.total).toBeUndefined();
    const seen: string[] = [];
    let page: Bundle<AuditEvent> | undefined = first;
    let recorded: string[] = [];
    while (page) {
      for (const e of events(page)) {
        seen.push(e.id as string);
        recorded.push(e.recorded as string);
        expect(e.entity?.some((x) => x.what?.reference === 'Patient/as-1')).toBe(true);
      }
      const next: string | undefined = page.link?.find((l) => l.relation === 'next')?.url;
      page = next ? ((await (await s.call(next.slice(s.url.length))).json()) as Bundle<AuditEvent>) : undefined;
    }
    // Five successful reads and the refused one (PUT is an update, not a read).
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    expect(recorded).toEqual([...recorded].sort().reverse());
    expect((await search(`patient=as-1&date=ge${startedAt}&action=R&_total=accurate&_count=0`)).total).toBe(6);
    expect((await search(`entity=Patient/as-1&outcome=4&date=ge${startedAt}&_total=accurate`)).total).toBe(1);
    expect((await search(`entity=Patient/as-1,Patient/as-2&action=R&date=ge${startedAt}&_total=accurate`)).total).toBe(
      7,
    );
    // Oldest first when sorted so; nothing before the trail began or after now.
    recorded = events(await search(`entity=Patient/as-1&date=ge${startedAt}&_sort=date`)).map(
      (e) => e.recorded as string,
    );
    expect(recorded).toEqual([...recorded].sort());
    expect(events(await search(`entity=Patient/as-1&date=lt${startedAt}`))).toEqual([]);
  });

  it('reads and vreads an AuditEvent by id, and finds it by _id, type and agent', async () => {
    const [one] = events(await search(`entity=Patient/as-2&date=ge${startedAt}&action=R`));
    const id = one?.id as string;
    const read = await s.call(`/fhir/AuditEvent/${id}`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as AuditEvent).entity?.[0]?.what?.reference).toBe('Patient/as-2');
    expect((await s.call(`/fhir/AuditEvent/${id}/_history/1`)).status).toBe(200);
    expect((await s.call(`/fhir/AuditEvent/${id}/_history/2`)).status).toBe(404);
    expect((await s.call('/fhir/AuditEvent/no-such-event')).status).toBe(404);
    expect(events(await search(`_id=${id}`)).map((e) => e.id)).toEqual([id]);
    const agent = one?.agent?.find((a) => a.requestor)?.who?.reference;
    if (agent) expect(events(await search(`_id=${id}&agent=${agent}`)).map((e) => e.id)).toEqual([id]);
    const type = one?.type;
    expect(events(await search(`_id=${id}&type=${type?.system}|${type?.code}`)).map((e) => e.id)).toEqual([id]);
    expect(events(await search(`_id=${id}&type=no-such-code`))).toEqual([]);
  });

  it('answers admins only, refuses what the audit tables do not index, and keeps the trail out of clinical data', async () => {
    expect((await s.call('/fhir/AuditEvent?_count=1', { role: 'research' })).status).toBe(403);
    expect((await s.call('/fhir/AuditEvent?entity:missing=true')).status).toBe(400);
    expect((await s.call('/fhir/AuditEvent?_cursor=bogus')).status).toBe(400);
    const inResources = await s.testDb.db.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM resources WHERE resource_type = 'AuditEvent')
            + (SELECT count(*) FROM sp_reference WHERE resource_type = 'AuditEvent')
            + (SELECT count(*) FROM sp_token WHERE resource_type = 'AuditEvent') AS n`,
    );
    expect(Number(inResources.rows[0]?.n)).toBe(0);
    const everything = (await (await s.call('/fhir/Patient/as-1/$everything')).json()) as Bundle;
    expect(everything.entry?.some((e) => e.resource?.resourceType === 'AuditEvent')).toBe(false);
  });
});
