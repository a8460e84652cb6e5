// SYNTHETIC COHORT, WRITTEN FOR THE TESTS. The per-arm MeasureReport counts are kept by difference
// after each recomputation (issue 20): through the service, after random corrections, new results,
// retractions, arm changes and deletions, each followed by a drain, the kept counts must equal a
// recount of every summary row, and the published MeasureReports what a full recount publishes.
import type { Bundle, ResearchSubject } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQuestionnaires } from '../../src/mapping/load-questionnaires.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { OutcomeEngine } from '../../src/outcomes/recompute.ts';
import { seededRandom as random } from '../../src/shared/seeded-random.ts';
import { deferAggregates } from '../../src/store/outcome-aggregate-pending.ts';
import { enrolAndFeed, observationOf, type SyntheticSubject, syntheticCohort } from '../support/synthetic-cohort.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const j = JSON.stringify;

describe('MeasureReport counts kept by difference, through the service', () => {
  let s: TestService;
  const cohort = syntheticCohort(8, 20261207);
  /** ResearchSubject id by Patient id. */
  const subjectOf = new Map<string, string>();

  /** Kept counts that differ from a recount of every summary row (the definition of the counts). */
  const staleAggregates = async (): Promise<unknown[]> =>
    (
      await s.service.db.query(
        `WITH recount AS (
           SELECT study_id, arm, visit, kind, category, count(*)::int AS subjects,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY value)::numeric AS median, sum(value) AS total
             FROM outcome_summary WHERE kind NOT LIKE 'measure:%'
            GROUP BY study_id, arm, visit, kind, category
         ), kept AS (SELECT study_id, arm, visit, kind, category, subjects, median, total FROM outcome_aggregate)
         (SELECT 'missing' AS d, * FROM recount EXCEPT SELECT 'missing', * FROM kept)
         UNION ALL
         (SELECT 'stale', * FROM kept EXCEPT SELECT 'stale', * FROM recount)`,
      )
    ).rows;

  const feed = async (entry: Bundle['entry']): Promise<void> => {
    const r = await s.call('/fhir', {
      method: 'POST',
      role: 'ehr-feed',
      body: j({ resourceType: 'Bundle', type: 'transaction', entry }),
    });
    expect(r.status, await r.clone().text()).toBe(200);
  };

  beforeAll(async () => {
    s = await startTestService({ OUTCOMES_WORKER: 'off' });
    await enrolAndFeed(s, cohort);
    await s.service.outcomes.drain();
    const b = (await (await s.call('/fhir/ResearchSubject?_count=100')).json()) as Bundle<ResearchSubject>;
    for (const e of b.entry ?? []) {
      const rs = e.resource as ResearchSubject;
      subjectOf.set((rs.individual?.reference ?? '').replace('Patient/', ''), rs.id as string);
    }
    expect(subjectOf.size).toBe(cohort.length);
  }, 180_000);
  afterAll(async () => {
    await s.stop();
  });

  it('equal a recount after every drain of a random sequence of changes', async () => {
    const rnd = random(7);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
    const live = [...cohort];
    const done: string[] = [];
    for (let step = 0; step < 14; step++) {
      for (let k = 1 + Math.floor(rnd() * 2); k > 0; k--) {
        const c = pick(live) as SyntheticSubject;
        const v = pick(c.values);
        const action = rnd();
        if (action < 0.35) {
          // A corrected value (volume, platelets, trough...), moving categories, medians and sums.
          const value = Math.round(v.sent.value * (0.3 + rnd() * 1.4) * 100) / 100;
          await feed([
            {
              resource: {
                ...observationOf(c, { ...v, sent: { ...v.sent, value } }, 'corrected'),
                issued: `2023-0${1 + (step % 9)}-01T00:00:00Z`,
              },
              request: { method: 'POST', url: 'Observation' },
            },
          ]);
          done.push('correct');
        } else if (action < 0.55) {
          await feed([
            { resource: observationOf(c, v, 'entered-in-error'), request: { method: 'POST', url: 'Observation' } },
          ]);
          done.push('retract');
        } else if (action < 0.85) {
          const id = subjectOf.get(c.patientId) as string;
          const current = (await (await s.call(`/fhir/ResearchSubject/${id}`)).json()) as ResearchSubject;
          const { meta: _m, ...rest } = current;
          const arm = current.assignedArm === 'low-dose' ? 'regular-dose' : 'low-dose';
          const r = await s.call(`/fhir/ResearchSubject/${id}`, {
            method: 'PUT',
            body: j({ ...rest, assignedArm: arm }),
          });
          expect(r.status).toBe(200);
          done.push('arm');
        } else if (live.length > 5) {
          const r = await s.call(`/fhir/ResearchSubject/${subjectOf.get(c.patientId)}`, { method: 'DELETE' });
          expect([200, 204]).toContain(r.status);
          live.splice(live.indexOf(c), 1);
          done.push('delete');
        }
      }
      await s.service.outcomes.drain();
      expect(await staleAggregates(), `step ${step}: ${done.join(', ')}`).toEqual([]);
    }
    // Every kind of change happened.
    expect(new Set(done)).toEqual(new Set(['correct', 'retract', 'arm', 'delete']));

    // Every group recounted from all its rows (as if another instance had left them pending): the
    // MeasureReports published by difference are exactly those of a full recount, none rewritten.
    const groups = await s.service.db.query<{ study_id: string; arm: string; visit: string; kind: string }>(
      'SELECT DISTINCT study_id, arm, visit, kind FROM outcome_aggregate',
    );
    for (const g of groups.rows) await deferAggregates(s.service.db, g.study_id, [g]);
    // A new engine looks for groups left pending once, though it finds no marks.
    const engine = new OutcomeEngine(s.service.db, `${s.url}/fhir`, await loadStudyDefinitions('mappings/studies'), {
      questionnaires: await loadQuestionnaires('mappings/questionnaires'),
    });
    const recount = await engine.drain();
    expect(recount.subjects).toBe(0);
    expect(recount.measureReports).toBe(0);
    expect(await staleAggregates()).toEqual([]);
  }, 300_000);
});
