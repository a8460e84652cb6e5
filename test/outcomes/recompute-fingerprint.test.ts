// SYNTHETIC COHORT, WRITTEN FOR THE TESTS. A marked subject whose inputs are as at its last
// recomputation is recognised by its fingerprint and neither loaded nor computed (issue 20).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuestionnaires } from '../../src/mapping/load-questionnaires.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import type { StudyDefinition } from '../../src/mapping/study-definition.ts';
import { OutcomeEngine } from '../../src/outcomes/recompute.ts';
import type { Db, Queryable } from '../../src/store/db.ts';
import { markAllSubjects } from '../../src/store/outcome-store.ts';
import {
  enrolAndFeed,
  lateTrough,
  postResult,
  type SyntheticSubject,
  syntheticCohort,
} from '../support/synthetic-cohort.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const TODAY = '2023-06-01';

/**
 * The ResearchSubjects whose inputs a pass read (readSubjectInputs or readChangedSubjectInputs:
 * records, Patient, doses): the subjects of the rows it got back as inputs ('s').
 */
function recordingDb(db: Db, loaded: string[]): Db {
  const wrap = (q: Queryable): Queryable => ({
    query: async <R extends object>(text: string, params?: unknown[]) => {
      const r = await q.query<R>(text, params);
      if (text.includes("'s' AS role"))
        for (const row of r.rows as { role?: string; k?: string }[]) if (row.role === 's' && row.k) loaded.push(row.k);
      return r;
    },
    exec: (text) => q.exec(text),
  });
  return {
    ...wrap(db),
    backend: db.backend,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}

describe('recomputation skips subjects whose inputs did not change', () => {
  let s: TestService;
  let studies: StudyDefinition[];
  let questionnaires: Awaited<ReturnType<typeof loadQuestionnaires>>;
  // Five: a pass over all of them reads in a batch (fingerprints, then inputs); one subject alone
  // reads both in one statement (readChangedSubjectInputs, at most four subjects).
  const cohort = syntheticCohort(5);
  let subjectIds: string[] = [];

  /** One pass over every marked subject with a fresh engine; returns its report and whom it loaded. */
  async function pass(options: { today?: string; studies?: StudyDefinition[] } = {}) {
    const loaded: string[] = [];
    const engine = new OutcomeEngine(recordingDb(s.service.db, loaded), `${s.url}/fhir`, options.studies ?? studies, {
      today: () => options.today ?? TODAY,
      questionnaires,
    });
    const report = await engine.drain();
    return { report, loaded: [...new Set(loaded)].sort() };
  }

  async function historyRows(): Promise<number> {
    const r = await s.service.db.query<{ n: string }>('SELECT count(*)::text AS n FROM resource_history');
    return Number(r.rows[0]?.n);
  }

  beforeAll(async () => {
    s = await startTestService();
    studies = await loadStudyDefinitions('mappings/studies');
    questionnaires = await loadQuestionnaires('mappings/questionnaires');
    await enrolAndFeed(s, cohort);
    const rows = await s.service.db.query<{ id: string }>(
      `SELECT id FROM resources WHERE resource_type = 'ResearchSubject' ORDER BY id`,
    );
    subjectIds = rows.rows.map((row) => row.id);
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('computes every subject the first time, then loads none of them when nothing changed', async () => {
    const first = await pass();
    expect(first.loaded).toEqual(subjectIds);
    expect(first.report.created).toBeGreaterThan(5 * 40);

    const before = await historyRows();
    await markAllSubjects(s.service.db);
    const again = await pass();
    expect(again.loaded).toEqual([]);
    // Counted as before: every subject, every outcome resource unchanged, nothing written.
    expect(again.report).toMatchObject({ subjects: 5, created: 0, amended: 0, retracted: 0, measureReports: 0 });
    expect(again.report.unchanged).toBe(first.report.created);
    expect(await historyRows()).toBe(before);
  }, 120_000);

  it('loads only the subject that got a new result, and publishes its change', async () => {
    const c0 = cohort[0] as SyntheticSubject;
    const late = lateTrough(c0, 'SYN-FP-1', 364, 30);
    await postResult(s, c0, late);
    await markAllSubjects(s.service.db);
    const { report, loaded } = await pass();
    expect(loaded).toHaveLength(1);
    expect(report.subjects).toBe(5);
    expect(report.created + report.amended).toBeGreaterThan(0);
    // The one subject's new outcome versions are all the pass wrote (besides MeasureReports).
    const outcomeIds = report.changed.filter((k) => k.startsWith('Observation/'));
    expect(outcomeIds.length).toBeGreaterThan(0);
    const owners = await s.service.db.query<{ target: string }>(
      `SELECT DISTINCT target FROM sp_reference
        WHERE resource_type = 'Observation' AND param = 'research-subject' AND id = ANY($1::text[])`,
      [outcomeIds.map((k) => k.slice('Observation/'.length))],
    );
    expect(owners.rows.map((o) => o.target)).toEqual([`ResearchSubject/${loaded[0]}`]);
  }, 120_000);

  it('reads one subject alone with its fingerprint, and its inputs only when they changed', async () => {
    const c1 = cohort[1] as SyntheticSubject;
    const late = lateTrough(c1, 'SYN-FP-2', 363, 31);
    await postResult(s, c1, late);
    // The result marked its subject alone.
    const changed = await pass();
    expect(changed.report.subjects).toBe(1);
    expect(changed.loaded).toHaveLength(1);
    expect(changed.report.created + changed.report.amended).toBeGreaterThan(0);
    const id = changed.loaded[0] as string;

    // Marked again with nothing changed: recognised, not read, nothing written.
    const before = await historyRows();
    await s.service.db.query('INSERT INTO outcome_marks (research_subject_id) VALUES ($1)', [id]);
    const again = await pass();
    expect(again.loaded).toEqual([]);
    expect(again.report).toMatchObject({ subjects: 1, created: 0, amended: 0, retracted: 0 });
    expect(again.report.unchanged).toBeGreaterThan(40);
    expect(await historyRows()).toBe(before);
  }, 120_000);

  it('computes every subject again on another day, after a change to the study definitions, and when forced', async () => {
    await markAllSubjects(s.service.db);
    expect((await pass({ today: '2023-06-02' })).loaded).toEqual(subjectIds);

    const changed = studies.map((st) => ({ ...st, visits: st.visits.map((v) => ({ ...v })) }));
    const visit = changed[0]?.visits.find((v) => v.id !== changed[0]?.baselineVisit);
    if (!visit) throw new Error('the study declares no visit besides baseline');
    visit.latestDay += 1;
    await markAllSubjects(s.service.db);
    expect((await pass({ today: '2023-06-02', studies: changed })).loaded).toEqual(subjectIds);

    // Forced through the admin API: fingerprints forgotten, so the next pass loads everyone.
    const forced = await s.call('/admin/outcomes/recompute?scope=all&force=true', { method: 'POST' });
    expect(forced.status).toBe(202);
    expect(((await forced.json()) as { forced: boolean }).forced).toBe(true);
    expect((await pass({ today: '2023-06-02', studies: changed })).loaded).toEqual(subjectIds);
  }, 120_000);
});
