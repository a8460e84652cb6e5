// Fixtures WRITTEN FOR THE TESTS (invented child, local code RAPA9 and values).
// Issue 17: data stored under a declaration that did not make it arm-revealing is relabelled when the
// declarations change, at the next start, once, whichever instance does it.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, ConceptMap, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../src/app/start.ts';
import type { Role } from '../../src/auth/access-context.ts';
import { ARM_REVEALING_SECURITY_LABEL } from '../../src/auth/masking.ts';
import { RELABEL_TYPES, relabelStored } from '../../src/ingest/relabel.ts';
import { RoutingTable } from '../../src/ingest/routing-table.ts';
import { loadConceptMaps } from '../../src/mapping/load-concept-maps.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { readArmLabelState } from '../../src/store/arm-label-store.ts';
import { download, kickoff, waitForManifest } from '../fhir/bulk/bulk-helpers.ts';
import { enroll } from '../support/enroll.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';
import { fetchToken, readDevClients, type TestService } from '../support/test-service.ts';

const LOCAL = 'urn:oid:1.2.156.112606.1.1.1';
const MAP_FILE = 'west-china-lab-local-codes.json';

/** The example ConceptMap, with RAPA9 mapped to the trough when `mapped`. */
function writeMaps(dir: string, mapped: boolean): void {
  const map = JSON.parse(readFileSync(join('mappings/conceptmaps', MAP_FILE), 'utf8')) as ConceptMap;
  const group = map.group?.[0];
  if (!group?.element) throw new Error('example ConceptMap changed shape');
  group.element = group.element.filter((e) => e.code !== 'RAPA9');
  if (mapped) {
    group.element.push({ code: 'RAPA9', display: 'Level X', target: [{ code: '29247-4', equivalence: 'equivalent' }] });
  }
  writeFileSync(join(dir, MAP_FILE), JSON.stringify(map));
}

const isLabelled = (r: Resource) =>
  r.meta?.security?.some(
    (c) => c.system === ARM_REVEALING_SECURITY_LABEL.system && c.code === ARM_REVEALING_SECURITY_LABEL.code,
  ) === true;

describe('relabel of stored data when the arm-revealing declarations change', () => {
  let testDb: TestDb;
  let dataDir: string;
  let mapsDir: string;
  let service: RunningService | undefined;
  let s: TestService;

  /** Starts the app on the same store and data folder (dev clients), as a restart does. */
  const start = async (): Promise<void> => {
    service = await startService(
      {
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        LOG_LEVEL: 'silent',
        OUTCOMES_WORKER: 'off',
        CONCEPTMAPS_DIR: mapsDir,
      },
      { db: testDb.db, logger: createLogger('silent') },
    );
    const url = service.url;
    const tokens = new Map<Role, string>();
    const token = async (role: Role) => {
      const cached = tokens.get(role);
      if (cached) return cached;
      const client = readDevClients(dataDir).find((c) => c.role === role);
      if (!client) throw new Error(`no dev client for ${role}`);
      const t = await fetchToken(url, client);
      tokens.set(role, t);
      return t;
    };
    s = {
      url,
      fhir: `${url}/fhir`,
      service,
      testDb,
      dataDir,
      token,
      async call(path, init = {}) {
        const { role = 'admin', headers, ...rest } = init;
        const h = new Headers(headers);
        if (role !== 'none') h.set('authorization', `Bearer ${await token(role)}`);
        if (rest.body !== undefined && !h.has('content-type')) h.set('content-type', 'application/fhir+json');
        return fetch(`${url}${path}`, { ...rest, headers: h });
      },
      stop: async () => {},
    };
  };

  beforeAll(async () => {
    testDb = await openTestDb();
    dataDir = mkdtempSync(join(tmpdir(), 'khe-relabel-'));
    mapsDir = mkdtempSync(join(tmpdir(), 'khe-relabel-maps-'));
    cpSync('mappings/conceptmaps', mapsDir, { recursive: true });
    writeMaps(mapsDir, false);
    await start();
  });
  afterAll(async () => {
    await service?.stop();
    await testDb.drop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(mapsDir, { recursive: true, force: true });
  });

  it('hides from the outcome assessor, after a restart, a local-code result the new ConceptMap maps to the trough', async () => {
    await enroll(s, 'rl-1', { start: '2022-01-10', arm: 'regular-dose' });
    const level = (value: number) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: LOCAL, code: 'RAPA9', display: 'Level X' }] },
      subject: { reference: 'Patient/rl-1' },
      effectiveDateTime: '2022-02-10T08:00:00+08:00',
      valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
    });
    const created = await s.call('/fhir/Observation', { method: 'POST', body: JSON.stringify(level(11.11)) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    // A second version (the first stays in history) and a report listing it.
    const updated = await s.call(`/fhir/Observation/${id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...level(12.12), id }),
    });
    expect(updated.status).toBe(200);
    const report = await s.call('/fhir/DiagnosticReport', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'DiagnosticReport',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] },
        subject: { reference: 'Patient/rl-1' },
        effectiveDateTime: '2022-02-10T08:00:00+08:00',
        result: [{ reference: `Observation/${id}` }],
      }),
    });
    expect(report.status).toBe(201);
    const reportId = ((await report.json()) as { id: string }).id;

    // Under the old map nothing of it reveals the arm: the assessor sees the value.
    const before = await s.call('/fhir/Observation?patient=Patient/rl-1', { role: 'outcome-assessor' });
    expect(await before.text()).toContain('12.12');
    // And the assessor's export made now holds it: after the relabel it must not be downloadable.
    const statusUrl = await kickoff(s, '/fhir/$export?_type=Observation', { role: 'outcome-assessor' });
    const manifest = await waitForManifest(s, statusUrl, 'outcome-assessor');
    const file = manifest.output.find((o) => o.type === 'Observation')?.url as string;
    expect((await download(s, file, 'outcome-assessor')).join('\n')).toContain('12.12');

    await service?.stop();
    writeMaps(mapsDir, true);
    await start();

    const search = await s.call('/fhir/Observation?patient=Patient/rl-1', { role: 'outcome-assessor' });
    expect(search.status).toBe(200);
    const searchText = await search.text();
    expect(searchText).not.toContain('12.12');
    expect(searchText).not.toContain(id);
    const count = (await (
      await s.call('/fhir/Observation?patient=Patient/rl-1&_summary=count', { role: 'outcome-assessor' })
    ).json()) as Bundle;
    expect(count.total).toBe(0);
    for (const path of [
      `/fhir/Observation/${id}`,
      `/fhir/Observation/${id}/_history`,
      `/fhir/Observation/${id}/_history/1`,
      `/fhir/DiagnosticReport/${reportId}`,
    ]) {
      const r = await s.call(path, { role: 'outcome-assessor' });
      expect(r.status, path).toBe(404);
      expect(await r.text(), path).not.toContain('11.11');
    }
    // The export made under the old labels is gone (status and file), as an expired one is.
    for (const url of [statusUrl, file]) {
      // The restarted service listens on another port: the same path there.
      const r = await s.call(new URL(url).pathname, { role: 'outcome-assessor' });
      expect(r.status, url).toBe(404);
      expect(await r.text(), url).not.toContain('12.12');
    }
    // Kept, labelled, every version, same version number (relabelled in place).
    const admin = (await (await s.call(`/fhir/Observation/${id}`)).json()) as Resource;
    expect(isLabelled(admin)).toBe(true);
    expect(admin.meta?.versionId).toBe('2');
    expect(isLabelled((await (await s.call(`/fhir/Observation/${id}/_history/1`)).json()) as Resource)).toBe(true);
    expect(isLabelled((await (await s.call(`/fhir/DiagnosticReport/${reportId}`)).json()) as Resource)).toBe(true);

    const state = await readArmLabelState(testDb.db);
    const table = new RoutingTable(await loadStudyDefinitions(), await loadConceptMaps(mapsDir));
    expect(state).toEqual({ fingerprint: table.armLabelFingerprint, nextType: null, nextSeq: null });
    // Done for this fingerprint: a further run does nothing.
    expect(await relabelStored(testDb.db, table, s.fhir)).toEqual({ labelled: 0, windows: 0 });
  });
});

describe('relabel coordination', () => {
  it('fingerprints only what decides the label', async () => {
    const studies = await loadStudyDefinitions();
    const maps = await loadConceptMaps();
    const base = new RoutingTable(studies, maps).armLabelFingerprint;
    const withElement = (code: string, target: string): ConceptMap[] => {
      const copy = structuredClone(maps);
      copy[0]?.group?.[0]?.element?.push({ code, target: [{ code: target, equivalence: 'equivalent' }] });
      return copy;
    };
    // A local code for platelets changes nothing; one for the trough does.
    expect(new RoutingTable(studies, withElement('PLT2', '777-3')).armLabelFingerprint).toBe(base);
    expect(new RoutingTable(studies, withElement('RAPA2', '29247-4')).armLabelFingerprint).not.toBe(base);
    const declared = structuredClone(studies);
    declared[0]?.armRevealing.terms.push('everolimus');
    expect(new RoutingTable(declared, maps).armLabelFingerprint).not.toBe(base);
  });

  it('shares the windows between instances running at once: each version is labelled once', async () => {
    const testDb = await openTestDb();
    try {
      const { migrate } = await import('../../src/store/migrate.ts');
      await migrate(testDb.db);
      const { writeFirstVersions } = await import('../../src/store/batch-write.ts');
      const { extractIndexRows } = await import('../../src/fhir/search/index-values.ts');
      const base = 'http://x/fhir';
      const writes = Array.from({ length: 23 }, (_, i) => {
        const resource = {
          resourceType: 'Observation',
          id: `cc-${i}`,
          meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00.000Z' },
          status: 'final',
          code: { coding: [{ system: LOCAL, code: i % 2 === 0 ? 'RAPA' : 'PLT' }] },
          subject: { reference: 'Patient/cc' },
          valueQuantity: { value: i },
        } as Resource;
        return {
          resourceType: 'Observation',
          id: `cc-${i}`,
          versionId: 1,
          lastUpdated: '2026-01-01T00:00:00.000Z',
          method: 'POST' as const,
          content: JSON.stringify(resource),
          index: extractIndexRows(resource, base),
        };
      });
      await writeFirstVersions(testDb.db, writes);
      const table = new RoutingTable(await loadStudyDefinitions(), await loadConceptMaps());
      const runs = await Promise.all([
        relabelStored(testDb.db, table, base, { batchSize: 2, waitMs: 5 }),
        relabelStored(testDb.db, table, base, { batchSize: 2, waitMs: 5 }),
        relabelStored(testDb.db, table, base, { batchSize: 2, waitMs: 5 }),
      ]);
      // 12 of the 23 carry the trough's local code.
      expect(runs.reduce((n, r) => n + r.labelled, 0)).toBe(12);
      // No window twice: 12 of Observations (the last one short), one empty window for each other type.
      expect(runs.reduce((n, r) => n + r.windows, 0)).toBe(12 + RELABEL_TYPES.length - 1);
      const rows = await testDb.db.query<{ content: string }>(
        `SELECT content FROM resources WHERE resource_type = 'Observation'`,
      );
      const labelled = rows.rows.map((r) => JSON.parse(r.content) as Resource).filter(isLabelled);
      expect(labelled.map((r) => r.id).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `cc-${i * 2}`).sort());
      // Each carries the label once, and searches exclude it (the index rows were rewritten).
      expect(labelled.every((r) => r.meta?.security?.length === 1)).toBe(true);
      const tokens = await testDb.db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM sp_token WHERE resource_type = 'Observation' AND param = '_security' AND code = 'arm-revealing'`,
      );
      expect(tokens.rows[0]?.n).toBe('12');
    } finally {
      await testDb.drop();
    }
  });
});
