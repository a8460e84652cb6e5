// `npm run demo` against the real app: the SYNTHETIC cohort goes in through the API (coordinator and
// EHR feed), the outcomes are computed, the coordinator overview lists every child, and a second
// run adds nothing.
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devClients, loadDemo, SYNTHETIC_TAG } from '../../src/cli/demo.ts';
import { syntheticCohort } from '../../src/cli/synthetic-cohort.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

let s: TestService;
const count = async (path: string): Promise<number> =>
  ((await (await s.call(`${path}${path.includes('?') ? '&' : '?'}_summary=count`)).json()) as Bundle).total ?? -1;

beforeAll(async () => {
  s = await startTestService();
}, 60_000);
afterAll(async () => {
  await s?.stop();
});

describe('npm run demo', () => {
  it('loads the synthetic cohort through the API within a minute, with outcomes and MeasureReports', async () => {
    const lines: string[] = [];
    const result = await loadDemo(s.url, devClients(s.dataDir), (l) => lines.push(l));
    const cohort = syntheticCohort();
    expect(result.subjects).toBe(cohort.length);
    expect(result.results).toBe(cohort.reduce((n, c) => n + c.values.length, 0));
    expect(result.measureReports).toBeGreaterThan(0);
    expect(result.seconds).toBeLessThan(60);
    expect(lines.join('\n')).toMatch(/synthetic/);

    const overview = (await (await s.call('/app/api/overview')).json()) as { patientId: string; arm: string }[];
    expect(overview.map((r) => r.patientId).sort()).toEqual(cohort.map((c) => c.patientId).sort());
    expect(new Set(overview.map((r) => r.arm))).toEqual(new Set(['low-dose', 'regular-dose']));
    expect(await count('/fhir/MeasureReport')).toBe(result.measureReports);
    expect(await count('/fhir/Provenance')).toBeGreaterThan(0);
  }, 120_000);

  it('labels what it writes as synthetic test data', async () => {
    const p = (await (await s.call('/fhir/Patient/syn-0')).json()) as Patient;
    expect(p.meta?.tag).toContainEqual(expect.objectContaining({ system: SYNTHETIC_TAG.system, code: 'HTEST' }));
    expect(p.name?.[0]?.text).toMatch(/^Synthetic child/);
  });

  it('run again, adds nothing', async () => {
    const before = await Promise.all(['/fhir/ResearchSubject', '/fhir/Observation', '/fhir/MeasureReport'].map(count));
    await loadDemo(s.url, devClients(s.dataDir));
    const after = await Promise.all(['/fhir/ResearchSubject', '/fhir/Observation', '/fhir/MeasureReport'].map(count));
    expect(after).toEqual(before);
  }, 120_000);
});
