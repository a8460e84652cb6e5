// Fixtures WRITTEN FOR THE TESTS (an invented child's PedsQL infant answers).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Bundle, OperationOutcome, QuestionnaireResponse } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSearchIndex } from '../../src/jobs/reindex-state.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { enroll } from '../support/enroll.ts';
import { pedsqlInfantResponse } from '../support/questionnaire-responses.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const json = (r: unknown) => JSON.stringify(r);

describe('reindex: index rows rewritten from stored content, in windows', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
    await enroll(s, 'rx-a', { birthDate: '2021-10-01', start: '2022-01-10' });
    for (const id of ['rx-qr-1', 'rx-qr-2']) {
      const put = await s.call(`/fhir/QuestionnaireResponse/${id}`, {
        method: 'PUT',
        role: 'ehr-feed',
        body: json(pedsqlInfantResponse(id, 'rx-a', 2)),
      });
      expect(put.status).toBe(201);
    }
  });
  afterAll(async () => {
    await s.stop();
  });

  const derivedFrom = async (source: string) =>
    ((await (await s.call(`/fhir/QuestionnaireResponse?derived-from=${source}`)).json()) as Bundle).total;
  const reindex = (body: unknown, role: 'admin' | 'research' = 'admin') =>
    s.call('/admin/reindex', {
      method: 'POST',
      role,
      body: json(body),
      headers: { 'content-type': 'application/json' },
    });

  it('finds a trial response from its source, and restores index rows a store lacks', async () => {
    expect(await derivedFrom('QuestionnaireResponse/rx-qr-1')).toBe(1);
    // As in a store written before the parameter existed.
    await s.testDb.db.query(
      "DELETE FROM sp_reference WHERE resource_type = 'QuestionnaireResponse' AND param = 'derived-from'",
    );
    expect(await derivedFrom('QuestionnaireResponse/rx-qr-1')).toBe(0);

    // Two sources and two trial records: windows of 3, then the rest.
    const first = await reindex({ resourceType: 'QuestionnaireResponse', limit: 3 });
    expect(first.status).toBe(200);
    const w1 = (await first.json()) as { reindexed: number; next: string | null };
    expect(w1.reindexed).toBe(3);
    expect(w1.next).toMatch(/^\d+$/);
    const w2 = (await (await reindex({ resourceType: 'QuestionnaireResponse', after: w1.next, limit: 3 })).json()) as {
      reindexed: number;
      next: string | null;
    };
    expect(w2).toEqual({ resourceType: 'QuestionnaireResponse', reindexed: 1, next: null });
    expect(await derivedFrom('QuestionnaireResponse/rx-qr-1')).toBe(1);
    expect(await derivedFrom('QuestionnaireResponse/rx-qr-2')).toBe(1);
    // Nothing else changed: no new versions.
    const source = (await (await s.call('/fhir/QuestionnaireResponse/rx-qr-1')).json()) as QuestionnaireResponse;
    expect(source.meta?.versionId).toBe('1');
  });

  it('refuses bad input and non-admins with an OperationOutcome', async () => {
    for (const body of [
      {},
      { resourceType: 'Nonsense' },
      { resourceType: 'Patient', after: 'x' },
      { resourceType: 'Patient', limit: 0 },
      { resourceType: 'Patient', limit: 100000 },
      { resourceType: 'Patient', extra: 1 },
    ]) {
      const res = await reindex(body);
      expect(res.status, json(body)).toBe(400);
      expect(((await res.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    }
    expect((await reindex({ resourceType: 'Patient' }, 'research')).status).toBe(403);
    const anonymous = await s.call('/admin/reindex', { role: 'none' });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    const oversized = await reindex({ resourceType: 'Patient', after: '1'.repeat(10_000) });
    expect(oversized.status).toBe(413);
    expect(((await oversized.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
  });

  it('has a CLI that loops through the windows of each type', async () => {
    await s.testDb.db.query(
      "DELETE FROM sp_reference WHERE resource_type = 'QuestionnaireResponse' AND param = 'derived-from'",
    );
    const run = promisify(execFile);
    const node = join(ROOT, 'node_modules', '.bin', 'node');
    const env = { PATH: process.env.PATH ?? '', ADAPTER_URL: s.url, DATA_DIR: s.dataDir };
    const out = await run(node, ['src/cli/reindex.ts', 'QuestionnaireResponse', 'ResearchSubject'], { cwd: ROOT, env });
    expect(out.stdout).toBe('QuestionnaireResponse: 4 reindexed\nResearchSubject: 1 reindexed\n');
    expect(await derivedFrom('QuestionnaireResponse/rx-qr-2')).toBe(1);
  });

  it('knows which types need it: none on a fresh store, a type whose parameters changed until its pass is done', async () => {
    const needed = async () => ((await (await s.call('/admin/reindex')).json()) as { needed: string[] }).needed;
    expect(await needed()).toEqual([]);
    // As in a store indexed by a version with other QuestionnaireResponse parameters.
    await s.testDb.db.query(
      "UPDATE search_index_state SET signature = 'older' WHERE resource_type IN ('QuestionnaireResponse', 'Specimen')",
    );
    // Specimen has nothing stored: start-up takes the new parameters for it without a pass.
    expect(await needed()).toEqual(['QuestionnaireResponse']);
    expect(await checkSearchIndex(s.testDb.db, createLogger('silent'))).toEqual(['QuestionnaireResponse']);

    const run = promisify(execFile);
    const node = join(ROOT, 'node_modules', '.bin', 'node');
    const env = { PATH: process.env.PATH ?? '', ADAPTER_URL: s.url, DATA_DIR: s.dataDir };
    const out = await run(node, ['src/cli/reindex.ts'], { cwd: ROOT, env });
    expect(out.stdout).toBe('QuestionnaireResponse: 4 reindexed\n');
    expect(await needed()).toEqual([]);
    expect((await run(node, ['src/cli/reindex.ts'], { cwd: ROOT, env })).stdout).toBe('nothing to reindex\n');
    const bad = await s.call('/admin/reindex/Nonsense/done', { method: 'POST' });
    expect(bad.status).toBe(400);
  });
});
