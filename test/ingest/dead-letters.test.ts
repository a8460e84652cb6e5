// Fixtures WRITTEN FOR THE TESTS: a fibrinogen result in a local code the example ConceptMap lacks.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDeadLetter } from '../../src/store/dead-letter-store.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const LOCAL = 'urn:oid:1.2.156.112606.1.1.1';
const json = (r: unknown) => JSON.stringify(r);
const fibrinogen = (code: string, n: number) => ({
  resourceType: 'Observation',
  identifier: [{ system: 'urn:lab', value: `dl-${n}` }],
  status: 'final',
  code: { coding: [{ system: LOCAL, code }] },
  subject: { reference: 'Patient/dl-1' },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  valueQuantity: { value: 110, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
});

describe('dead letters: unmapped site codes held, replayed after the mapping is fixed', () => {
  let s: TestService;
  let maps: string;
  beforeAll(async () => {
    maps = mkdtempSync(join(tmpdir(), 'khe-maps-'));
    cpSync(join(ROOT, 'mappings', 'conceptmaps'), maps, { recursive: true });
    s = await startTestService({ CONCEPTMAPS_DIR: maps });
    await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: json({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: 'Patient/dl-1' },
        assignedArm: 'low-dose',
        period: { start: '2022-01-10' },
      }),
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  const list = async (status = 'open') =>
    (
      (await (await s.call(`/admin/dead-letters?status=${status}`)).json()) as {
        deadLetters: { id: string; reason: string }[];
      }
    ).deadLetters;

  it('holds an enrolled subject’s result in an unmapped local code, and replays it once mapped', async () => {
    const res = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: json(fibrinogen('FIBR', 1)),
    });
    expect(res.status).toBe(202);
    const oo = (await res.json()) as OperationOutcome;
    expect(oo.issue?.[0]?.severity).toBe('warning');
    expect(oo.issue?.[0]?.details?.text).toMatch(/FIBR has no mapping/);
    const open = await list();
    expect(open).toHaveLength(1);
    expect(open[0]?.reason).toMatch(/FIBR/);

    const notYet = await (await s.call('/admin/dead-letters/replay', { method: 'POST', body: '{}' })).json();
    expect(notYet).toEqual({ replayed: [], discarded: [], stillOpen: [open[0]?.id], failed: [] });

    writeFileSync(
      join(maps, 'site-fix.json'),
      json({
        resourceType: 'ConceptMap',
        url: 'https://khe-trial.example.org/fhir/ConceptMap/site-fix',
        status: 'draft',
        group: [
          {
            source: LOCAL,
            target: 'http://loinc.org',
            element: [{ code: 'FIBR', target: [{ code: '3255-7', equivalence: 'equivalent' }] }],
          },
        ],
      }),
    );
    const done = await (await s.call('/admin/dead-letters/replay', { method: 'POST', body: '{}' })).json();
    expect(done).toMatchObject({ replayed: [open[0]?.id], stillOpen: [] });
    expect(await list()).toHaveLength(0);
    const record = (await (
      await s.call(
        '/fhir/Observation?_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record&code=http://loinc.org|3255-7',
      )
    ).json()) as Bundle;
    expect(record.total).toBe(1);
    expect(
      (record.entry?.[0]?.resource as { valueQuantity?: { value?: number } } | undefined)?.valueQuantity?.value,
    ).toBe(1.1);
  });

  it('discards a letter with a reason, once; admin only; bad input is a 400 OperationOutcome', async () => {
    await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: json(fibrinogen('ZZZ', 2)) });
    const [letter] = await list();
    expect((await s.call('/admin/dead-letters', { role: 'research' })).status).toBe(403);
    expect((await s.call('/admin/dead-letters', { role: 'none' })).status).toBe(401);
    const bad = await s.call(`/admin/dead-letters/${letter?.id}/discard`, { method: 'POST', body: '{}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    const ok = await s.call(`/admin/dead-letters/${letter?.id}/discard`, {
      method: 'POST',
      body: json({ reason: 'test code' }),
    });
    expect(ok.status).toBe(200);
    expect(
      (await s.call(`/admin/dead-letters/${letter?.id}/discard`, { method: 'POST', body: json({ reason: 'again' }) }))
        .status,
    ).toBe(404);
    expect((await list('discarded')).map((d) => d.id)).toEqual([letter?.id]);
  });

  it('has a CLI that lists and replays through the API', async () => {
    // Asynchronous: the service under test runs in this process and must keep answering.
    const run = promisify(execFile);
    const node = join(ROOT, 'node_modules', '.bin', 'node');
    const env = { PATH: process.env.PATH ?? '', ADAPTER_URL: s.url, DATA_DIR: s.dataDir };
    const listed = await run(node, ['src/cli/dead-letters.ts', 'list', 'discarded'], { cwd: ROOT, env });
    expect((JSON.parse(listed.stdout) as { deadLetters: unknown[] }).deadLetters).toHaveLength(1);
    const replayed = await run(node, ['src/cli/dead-letters.ts', 'replay'], { cwd: ROOT, env });
    expect(JSON.parse(replayed.stdout)).toEqual({ replayed: [], discarded: [], stillOpen: [], failed: [] });
    await expect(run(node, ['src/cli/dead-letters.ts'], { cwd: ROOT, env })).rejects.toMatchObject({ code: 2 });
  });

  it('retracts a kept result whose site code was since taken out of mappings/ when it is deleted or corrected', async () => {
    const temp = join(maps, 'site-temp.json');
    writeFileSync(
      temp,
      json({
        resourceType: 'ConceptMap',
        url: 'https://khe-trial.example.org/fhir/ConceptMap/site-temp',
        status: 'draft',
        group: [
          {
            source: LOCAL,
            target: 'http://loinc.org',
            element: [{ code: 'FIBT', target: [{ code: '3255-7', equivalence: 'equivalent' }] }],
          },
        ],
      }),
    );
    await s.call('/admin/dead-letters/replay', { method: 'POST', body: '{}' });
    for (const n of [21, 22]) {
      const put = await s.call(`/fhir/Observation/dl-src-${n}`, {
        method: 'PUT',
        role: 'ehr-feed',
        body: json({ ...fibrinogen('FIBT', n), id: `dl-src-${n}` }),
      });
      expect(put.status).toBe(201);
    }
    const recordsOf = async (n: number) =>
      (
        (await (await s.call(`/fhir/Observation?derived-from=Observation/dl-src-${n}`)).json()) as Bundle<Observation>
      ).entry?.map((e) => e.resource?.status) ?? [];
    expect(await recordsOf(21)).toEqual(['final']);
    await s.service.outcomes.drain();

    // The mapping goes away: the stored results can no longer be routed by their code.
    rmSync(temp);
    await s.call('/admin/dead-letters/replay', { method: 'POST', body: '{}' });
    expect((await s.call('/fhir/Observation/dl-src-21', { method: 'DELETE' })).status).toBe(204);
    expect(await recordsOf(21)).toEqual(['entered-in-error']);
    const pending = async () =>
      ((await (await s.call('/admin/outcomes')).json()) as { pendingMarks: number }).pendingMarks;
    expect(await pending()).toBe(1);
    await s.service.outcomes.drain();

    // A feed correction moving the other one to a patient who is not enrolled withdraws it the same way.
    const moved = await s.call('/fhir/Observation/dl-src-22', {
      method: 'PUT',
      role: 'ehr-feed',
      body: json({ ...fibrinogen('FIBT', 22), subject: { reference: 'Patient/not-enrolled' }, id: 'dl-src-22' }),
    });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as OperationOutcome).id).toBe('withdrawn');
    expect(await recordsOf(22)).toEqual(['entered-in-error']);
    expect(await pending()).toBe(1);
  });

  it('keeps a letter whose replay fails open, with its error, and replays the others of the same run', async () => {
    // Held as the upstream pull holds what it could not store: one still refused (50 g/L of
    // fibrinogen cannot be), one that goes through now.
    const loinc = (n: number, value: number) => ({
      ...fibrinogen('unused', n),
      code: { coding: [{ system: 'http://loinc.org', code: '3255-7' }] },
      valueQuantity: { value, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    });
    const db = s.testDb.db;
    const bad = await addDeadLetter(db, 'Observation', json({ ...loinc(31, 5000), id: 'dl-up-31' }), 'test');
    const good = await addDeadLetter(db, 'Observation', json({ ...loinc(32, 150), id: 'dl-up-32' }), 'test');
    const replay = async () =>
      (await (
        await s.call('/admin/dead-letters/replay', { method: 'POST', body: json({ ids: [bad, good] }) })
      ).json()) as {
        replayed: string[];
        stillOpen: string[];
        failed: { id: string; error: string }[];
      };
    const first = await replay();
    expect(first.replayed).toEqual([good]);
    expect(first.stillOpen).toEqual([bad]);
    expect(first.failed.map((f) => f.id)).toEqual([bad]);
    expect(first.failed[0]?.error).toMatch(/^422 /);
    // The good one was applied although the bad one failed in the same replay.
    expect((await s.call('/fhir/Observation/dl-up-32')).status).toBe(200);
    expect((await s.call('/fhir/Observation/dl-up-31')).status).toBe(404);

    const again = await replay();
    expect(again).toMatchObject({ replayed: [], stillOpen: [bad] });
    const open = (
      (await (await s.call('/admin/dead-letters?status=open')).json()) as {
        deadLetters: { id: string; attempts: number; lastError: string | null }[];
      }
    ).deadLetters.find((l) => l.id === bad);
    expect(open).toMatchObject({ attempts: 2, lastError: expect.stringMatching(/^422 /) });
  });
});
