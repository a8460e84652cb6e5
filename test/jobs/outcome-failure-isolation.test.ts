// Fixtures WRITTEN FOR THE TESTS (invented children and results).
// Issue 17: one write by the feed stalled outcome computation for the whole study; a subject whose
// recomputation fails must be recorded, retried, and never block the others.
import type { Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const j = JSON.stringify;
const trough = (patient: string, value: number, date: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: date,
  valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
});

describe('the outcome worker isolates a failing subject', () => {
  let s: TestService;
  const rs: Record<string, string> = {};
  const push = async (patient: string, value: number, date: string) => {
    const r = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: j(trough(patient, value, date)),
    });
    expect(r.status).toBe(201);
  };
  const outcomeOf = async (patient: string) => {
    const r = await s.testDb.db.query<{ id: string; content: string }>(
      `SELECT id, content FROM resources WHERE resource_type = 'Observation' AND id LIKE 'oc-%' AND content LIKE $1 ORDER BY id LIMIT 1`,
      [`%ResearchSubject/${rs[patient]}"%`],
    );
    return r.rows[0] as { id: string; content: string };
  };
  const pending = async () =>
    Number((await s.testDb.db.query<{ n: string }>('SELECT count(*)::text AS n FROM outcome_marks')).rows[0]?.n ?? '0');

  beforeAll(async () => {
    s = await startTestService({ OUTCOMES_WORKER: 'off' });
    for (const p of ['fi-a', 'fi-b']) {
      rs[p] = await enroll(s, p, { birthDate: '2020-01-01', arm: 'low-dose', start: '2022-01-10' });
      await push(p, 8, '2022-02-10T08:00:00+08:00');
    }
    await s.service.outcomes.drain();
  }, 60_000);
  afterAll(async () => {
    await s.stop();
  });

  it('keeps draining other subjects after ehr-feed tries PUT /fhir/Observation/oc-…', async () => {
    const target = await outcomeOf('fi-a');
    const { meta: _m, ...stripped } = JSON.parse(target.content) as Observation;
    const put = await s.call(`/fhir/Observation/${target.id}`, {
      method: 'PUT',
      role: 'ehr-feed',
      body: j({ ...stripped, subject: { reference: 'Patient/fi-a' } }),
    });
    expect(put.status).toBe(403);
    await push('fi-a', 9, '2022-03-10T08:00:00+08:00');
    await push('fi-b', 9, '2022-03-10T08:00:00+08:00');
    const r = await s.service.outcomes.drain();
    expect(r.failed).toEqual([]);
    expect(r.subjects).toBe(2);
    expect(await pending()).toBe(0);
  });

  it('records a failing subject with its error, shows it, retries it later, and recomputes the others', async () => {
    // A stored trial record of fi-a that cannot be read: its recomputation fails every time.
    const saved = await s.testDb.db.query<{ id: string; content: string }>(
      `SELECT id, content FROM resources WHERE resource_type = 'Observation' AND id LIKE 'tr-%' AND content LIKE $1`,
      [`%ResearchSubject/${rs['fi-a']}"%`],
    );
    expect(saved.rows.length).toBeGreaterThan(0);
    for (const row of saved.rows) {
      await s.testDb.db.query(`UPDATE resources SET content = '{' WHERE resource_type = 'Observation' AND id = $1`, [
        row.id,
      ]);
    }
    await push('fi-a', 11, '2022-04-10T08:00:00+08:00');
    await push('fi-b', 11, '2022-04-10T08:00:00+08:00');
    const r = await s.service.outcomes.drain();
    expect(r.failed).toEqual([rs['fi-a']]);
    expect(r.subjects).toBe(1);
    const admin = (await (await s.call('/admin/outcomes')).json()) as {
      pendingMarks: number;
      failures: { researchSubjectId: string; attempts: number; lastError: string; retryAt: string }[];
    };
    expect(admin.failures).toHaveLength(1);
    expect(admin.failures[0]).toMatchObject({ researchSubjectId: rs['fi-a'], attempts: 1 });
    expect(admin.failures[0]?.lastError.length).toBeGreaterThan(0);
    expect(Date.parse(admin.failures[0]?.retryAt as string)).toBeGreaterThan(Date.now());
    // Its marks wait for the retry: nothing lost, nothing spinning.
    expect(admin.pendingMarks).toBeGreaterThan(0);
    expect((await s.service.outcomes.drain()).subjects).toBe(0);
    const metrics = await (await s.call('/metrics')).text();
    expect(metrics).toMatch(/^khe_outcome_failed_subjects 1$/m);
    // A second failure backs off further.
    await s.testDb.db.query('UPDATE outcome_failures SET retry_at = now()');
    expect((await s.service.outcomes.drain()).failed).toEqual([rs['fi-a']]);
    const again = (await (await s.call('/admin/outcomes')).json()) as { failures: { attempts: number }[] };
    expect(again.failures[0]?.attempts).toBe(2);

    // Repaired, and due: it is recomputed and its failure cleared.
    for (const row of saved.rows) {
      await s.testDb.db.query(`UPDATE resources SET content = $1 WHERE resource_type = 'Observation' AND id = $2`, [
        row.content,
        row.id,
      ]);
    }
    await s.testDb.db.query('UPDATE outcome_failures SET retry_at = now()');
    const fixed = await s.service.outcomes.drain();
    expect(fixed.failed).toEqual([]);
    expect(fixed.subjects).toBe(1);
    expect(await pending()).toBe(0);
    expect(await (await s.call('/metrics')).text()).toMatch(/^khe_outcome_failed_subjects 0$/m);
  });
});
