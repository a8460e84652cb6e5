// The second example study (test/fixtures/studies/EXAMPLE-EVEROLIMUS, INVENTED for the tests), which
// differs from NCT04775173 in every way the declarations allow: baseline visit "day-0", a primary
// endpoint of another shape (haemoglobin OR fibrinogen, "any"), thresholds declared in g/L against
// measures kept in g/dL and mg/dL, volume cut-offs 20/50 %, an arm whose drug has no trough target,
// another drug, its own eligibility criteria and citations, and no adverse-event suggestion for low
// platelets. Two invented children, run end to end through the HTTP API; expectations computed by hand.

import { validateResource } from '@medplum/core';
import type { Bundle, Flag, Measure, MeasureReport, Observation, Provenance } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { buildProfile } from '../../src/mapping/profile-build/constrain.ts';
import { outcomeProfileSpecs } from '../../src/mapping/profile-build/outcome-specs.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const j = JSON.stringify;
const OUTCOMES = 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes';

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const CHILDREN = {
  'evr-a': { arm: 'everolimus', birthDate: '2015-01-01', start: '2023-03-01' },
  'evr-b': { arm: 'propranolol', birthDate: '2020-06-01', start: '2023-03-05' },
} as const;
type Child = keyof typeof CHILDREN;

const LOINC = { hb: '718-7', fib: '3255-7', plt: '777-3', evr: '50544-6' } as const;

function obs(child: Child, day: number, code: string, value: number, unit: string, system = 'http://loinc.org') {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: `Patient/${child}` },
    effectiveDateTime: `${addDays(CHILDREN[child].start, day)}T08:00:00+08:00`,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

const RESULTS = [
  obs('evr-a', -3, LOINC.hb, 8.5, 'g/dL'),
  obs('evr-a', -3, LOINC.fib, 120, 'mg/dL'),
  obs('evr-a', -3, LOINC.plt, 40, '10*9/L'),
  obs('evr-a', -3, '118565006', 40, 'mL', 'http://snomed.info/sct'),
  obs('evr-a', 84, LOINC.hb, 11.2, 'g/dL'),
  obs('evr-a', 84, LOINC.plt, 30, '10*9/L'),
  obs('evr-a', 84, LOINC.evr, 2.5, 'ng/mL'),
  obs('evr-a', 120, LOINC.evr, 5, 'ng/mL'),
  obs('evr-a', 168, LOINC.hb, 100, 'g/L'),
  obs('evr-a', 168, LOINC.fib, 1.4, 'g/L'),
  obs('evr-a', 168, '118565006', 18, 'mL', 'http://snomed.info/sct'),
  obs('evr-b', -2, LOINC.hb, 9, 'g/dL'),
  obs('evr-b', -2, LOINC.plt, 120, '10*9/L'),
  obs('evr-b', -2, LOINC.fib, 200, 'mg/dL'),
  obs('evr-b', -2, '118565006', 50, 'mL', 'http://snomed.info/sct'),
  obs('evr-b', 84, LOINC.fib, 160, 'mg/dL'),
  obs('evr-b', 168, LOINC.hb, 9.5, 'g/dL'),
  obs('evr-b', 168, '118565006', 62, 'mL', 'http://snomed.info/sct'),
];

const result = (o: Observation): string =>
  o.valueQuantity
    ? `${o.valueQuantity.value} ${o.valueQuantity.code}`
    : (o.valueCodeableConcept?.coding?.[0]?.code ?? o.dataAbsentReason?.text ?? '?');

describe('a second study declared in files only, end to end', () => {
  let s: TestService;
  const subjectOf = new Map<string, Child>();

  const outcomes = async (child: Child): Promise<Record<string, string>> => {
    const rs = [...subjectOf].find(([, c]) => c === child)?.[0];
    const b = (await (
      await s.call(`/fhir/Observation?research-subject=ResearchSubject/${rs}&_count=500`, { role: 'research' })
    ).json()) as Bundle<Observation>;
    const out: Record<string, string> = {};
    for (const o of (b.entry ?? []).map((e) => e.resource as Observation)) {
      const code = o.code?.coding?.[0];
      if (code?.system !== OUTCOMES) continue;
      const visit = o.extension?.find((e) => e.url.endsWith('/visit'))?.valueCoding?.code;
      const key = `${code.code}@${visit}${code.code === 'everolimus-status' ? `@${o.effectiveDateTime?.slice(0, 10)}` : ''}`;
      out[key] = result(o);
    }
    return out;
  };

  beforeAll(async () => {
    s = await startTestService({ STUDIES_DIR: 'test/fixtures/studies' });
    for (const [child, c] of Object.entries(CHILDREN)) {
      const p = await s.call(`/fhir/Patient/${child}`, {
        method: 'PUT',
        body: j({ resourceType: 'Patient', id: child, birthDate: c.birthDate }),
      });
      expect(p.status).toBe(201);
      const rs = await s.call('/fhir/ResearchSubject', {
        method: 'POST',
        body: j({
          resourceType: 'ResearchSubject',
          status: 'on-study',
          identifier: [{ system: 'urn:example:evr', value: child.toUpperCase() }],
          study: { reference: 'ResearchStudy/example-everolimus' },
          individual: { reference: `Patient/${child}` },
          assignedArm: c.arm,
          period: { start: c.start },
        }),
      });
      expect(rs.status, await rs.clone().text()).toBe(201);
      subjectOf.set(((await rs.json()) as { id: string }).id, child as Child);
    }
    for (const r of RESULTS) {
      const res = await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: j(r) });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    await s.service.outcomes.drain();
  }, 120_000);
  afterAll(async () => {
    await s.stop();
  });

  it('computes the declared outcomes, with thresholds converted by UCUM, at the declared visits', async () => {
    const a = await outcomes('evr-a');
    expect(a).toMatchObject({
      // Hb 11.2 g/dL >= 110 g/L: responder although fibrinogen has no value ("any").
      'haematological-response@week-12': 'responder',
      // Hb 100 g/L = 10 g/dL < 11; fibrinogen 1.4 g/L = 140 mg/dL not > 150.
      'haematological-response@week-24': 'non-responder',
      'hemoglobin-change@week-12': '2.7 g/dL',
      'hemoglobin-change@week-24': '1.5 g/dL',
      // 40 → 18 mL: -55 %, at or beyond -50 %.
      'lesion-percent-change@week-24': '-55 %',
      'lesion-category@week-24': 'response',
      'everolimus-status@week-12@2023-05-24': 'below',
      'everolimus-status@unscheduled@2023-06-29': 'in-range',
      // Platelets 40 x10^9/L below the declared 50.
      'eligible@overall': 'ineligible',
    });
    const b = await outcomes('evr-b');
    expect(b).toMatchObject({
      'haematological-response@week-12': 'responder',
      'haematological-response@week-24': 'Not evaluable: no fibrinogen at this visit',
      'hemoglobin-change@week-24': '0.5 g/dL',
      'lesion-percent-change@week-24': '24 %',
      'lesion-category@week-24': 'progression',
      'eligible@overall': 'eligible',
    });
    // The propranolol arm declares no trough target: no trough outcome; no NCT04775173 outcome anywhere.
    expect(Object.keys(b).some((k) => k.startsWith('everolimus-status'))).toBe(false);
    expect(Object.keys({ ...a, ...b }).some((k) => /km-response|volume-response|time-in-range/.test(k))).toBe(false);
  });

  it('moves a screening candidate by the study’s own eligibility outcome (`eligible`, not `eligibility`)', async () => {
    const enrollCandidate = async (child: string, platelets: number): Promise<string> => {
      const p = await s.call(`/fhir/Patient/${child}`, {
        method: 'PUT',
        body: j({ resourceType: 'Patient', id: child, birthDate: '2016-02-01' }),
      });
      expect(p.status).toBe(201);
      const rs = await s.call('/fhir/ResearchSubject', {
        method: 'POST',
        body: j({
          resourceType: 'ResearchSubject',
          status: 'candidate',
          identifier: [{ system: 'urn:example:evr', value: child.toUpperCase() }],
          study: { reference: 'ResearchStudy/example-everolimus' },
          individual: { reference: `Patient/${child}` },
        }),
      });
      expect(rs.status, await rs.clone().text()).toBe(201);
      const lab = {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: LOINC.plt }] },
        subject: { reference: `Patient/${child}` },
        effectiveDateTime: '2023-04-01T08:00:00+08:00',
        valueQuantity: { value: platelets, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
      };
      const res = await s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: j(lab) });
      expect(res.status, await res.clone().text()).toBe(201);
      return ((await rs.json()) as { id: string }).id;
    };
    const low = await enrollCandidate('evr-c', 30);
    const fine = await enrollCandidate('evr-d', 180);
    await s.service.outcomes.drain();
    const status = async (id: string) =>
      ((await (await s.call(`/fhir/ResearchSubject/${id}`, { role: 'research' })).json()) as { status: string }).status;
    // Platelets 30 below the declared 50 x10^9/L; 180 above it (age 7, within 2-21 years).
    expect(await status(low)).toBe('ineligible');
    expect(await status(fine)).toBe('eligible');
  });

  it('cites the study’s own sources, not the NCT04775173 registry record', async () => {
    const b = (await (
      await s.call(`/fhir/Observation?code=${OUTCOMES}|haematological-response&_count=10`, { role: 'research' })
    ).json()) as Bundle<Observation>;
    const method = b.entry?.[0]?.resource?.method?.coding?.[0];
    expect(method?.code).toBe('threshold-response');
    expect(method?.display).toContain('Example protocol EVR-01 (invented for the tests), section 7.1');
    expect(j(b)).not.toContain('NCT04775173');
  });

  it('raises the drug’s own trough flag and suggests no adverse event for low platelets (switched off)', async () => {
    const flags = (await (await s.call('/fhir/Flag', { role: 'research' })).json()) as Bundle<Flag>;
    expect(flags.entry?.map((e) => [e.resource?.status, e.resource?.code?.text])).toEqual([
      ['inactive', 'Everolimus trough below target: 2.5 ng/mL on 2023-05-24'],
    ]);
    const ae = (await (
      await s.call('/fhir/AdverseEvent?_tag=https://khe-trial.example.org/fhir/CodeSystem/review-status|suggested', {
        role: 'research',
      })
    ).json()) as Bundle;
    expect(ae.entry ?? []).toEqual([]);
  });

  it('counts the declared outcomes in MeasureReports per arm and visit', async () => {
    const mr = async (arm: string, visit: string) =>
      (await (
        await s.call(`/fhir/MeasureReport/mr-example-everolimus-${arm}-${visit}`, { role: 'research' })
      ).json()) as MeasureReport;
    const strata = (r: MeasureReport, kind: string) =>
      r.group
        ?.find((g) => g.code?.coding?.[0]?.code === kind)
        ?.stratifier?.[0]?.stratum?.map((st) => [st.value?.text, st.population?.[0]?.count]);
    expect(strata(await mr('everolimus', 'week-12'), 'haematological-response')).toEqual([['responder', 1]]);
    expect(strata(await mr('everolimus', 'week-24'), 'lesion-category')).toEqual([['response', 1]]);
    expect(strata(await mr('propranolol', 'week-24'), 'haematological-response')).toEqual([['not-evaluable', 1]]);
    expect(strata(await mr('propranolol', 'week-24'), 'lesion-category')).toEqual([['progression', 1]]);
  });

  it('serves the study’s Measure, generated from its declared outcomes, which its MeasureReports cite', async () => {
    const url = 'https://khe-trial.example.org/fhir/Measure/example-everolimus-outcomes';
    const res = await s.call('/fhir/Measure/example-everolimus-outcomes', { role: 'research' });
    expect(res.status).toBe(200);
    const m = (await res.json()) as Measure;
    expect(m.url).toBe(url);
    // One group per counted outcome code, in declaration order; trough statuses (one per trough) are not counted.
    expect(m.group?.map((g) => g.code?.coding?.[0]?.code)).toEqual([
      'haematological-response',
      'lesion-percent-change',
      'lesion-category',
      'hemoglobin-change',
      'eligible',
    ]);
    const primary = m.group?.filter((g) => g.description?.startsWith('Primary outcome.'));
    expect(primary?.map((g) => g.code?.coding?.[0]?.code)).toEqual(['haematological-response']);
    expect(m.group?.[0]?.description).toContain('responder, non-responder');
    expect(m.group?.[0]?.description).toContain('Example protocol EVR-01 (invented for the tests), section 7.1');
    expect(m.relatedArtifact?.map((a) => a.citation)).toContain(
      'Example protocol EVR-01 (invented for the tests), section 4',
    );
    expect(j(m)).not.toContain('NCT04775173');
    const reports = (await (
      await s.call('/fhir/MeasureReport?_count=50', { role: 'research' })
    ).json()) as Bundle<MeasureReport>;
    expect(reports.entry?.length).toBeGreaterThan(2);
    const declared = new Set(m.group?.map((g) => g.code?.coding?.[0]?.code));
    for (const e of reports.entry ?? []) {
      const r = e.resource as MeasureReport;
      expect(r.measure, r.id).toBe(url);
      for (const g of r.group ?? []) {
        expect(declared.has(g.code?.coding?.[0]?.code), `${r.id} ${g.code?.coding?.[0]?.code}`).toBe(true);
        expect(g.code?.coding?.[0]?.display).toBe(
          m.group?.find((x) => x.code?.coding?.[0]?.code === g.code?.coding?.[0]?.code)?.code?.coding?.[0]?.display,
        );
      }
    }
  });

  it('publishes outcomes that conform to the study’s generated outcome profiles (code, study, unit or categories)', async () => {
    const profiles = new Map(
      outcomeProfileSpecs(await loadStudyDefinitions('test/fixtures/studies')).map((spec) => [
        spec.id,
        buildProfile(spec),
      ]),
    );
    const b = (await (
      await s.call(
        `/fhir/Observation?_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|outcome&_count=500`,
        {
          role: 'research',
        },
      )
    ).json()) as Bundle<Observation>;
    const published = (b.entry ?? []).map((e) => e.resource as Observation);
    expect(published.length).toBeGreaterThan(10);
    for (const o of published) {
      const code = o.code?.coding?.[0]?.code as string;
      const profile = profiles.get(`trial-outcome-example-everolimus-${code}`);
      expect(profile, code).toBeDefined();
      expect(() => validateResource(o, { profile }), `${o.id} ${code}`).not.toThrow();
    }
  });

  it('cites each declared source in Provenance too', async () => {
    const b = (await (await s.call('/fhir/Provenance?_count=200', { role: 'research' })).json()) as Bundle<Provenance>;
    const reasons = new Set((b.entry ?? []).flatMap((e) => (e.resource as Provenance).reason?.map((r) => r.text)));
    expect([...reasons].sort()).toEqual([
      'Example protocol EVR-01 (invented for the tests), section 4',
      'Example protocol EVR-01 (invented for the tests), section 6.2: trough 3-8 ng/mL',
      'Example protocol EVR-01 (invented for the tests), section 7.1: primary endpoint',
      'Example protocol EVR-01 (invented for the tests), section 7.2',
      'Example protocol EVR-01 (invented for the tests), section 7.3',
    ]);
  });

  it('exports the declared columns, cell by cell', async () => {
    const dict = (await (await s.call('/research/flat-export/dictionary', { role: 'research' })).json()) as {
      columns: { name: string; unit?: string }[];
    };
    expect(dict.columns.map((c) => c.name).slice(6)).toEqual([
      'everolimus_trough',
      'hemoglobin',
      'fibrinogen_mass',
      'platelet_count',
      'lesion_size',
      'haematological_response',
      'lesion_percent_change',
      'lesion_category',
      'hemoglobin_change',
      'eligible',
      'ae_events',
    ]);
    const csv = await (await s.call('/research/flat-export.csv', { role: 'research' })).text();
    const [header, ...lines] = csv.trimEnd().split('\r\n');
    const names = (header as string).split(',');
    const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v])));
    const row = (child: Child, visit: string) =>
      rows.find((r) => subjectOf.get(r.research_subject_id as string) === child && r.visit === visit);
    expect(row('evr-a', 'week-24')).toMatchObject({
      arm: 'everolimus',
      hemoglobin: '10',
      fibrinogen_mass: '140',
      lesion_size: '18',
      haematological_response: 'non-responder',
      lesion_percent_change: '-55',
      lesion_category: 'response',
      hemoglobin_change: '1.5',
      eligible: 'ineligible',
    });
    expect(row('evr-b', 'week-12')).toMatchObject({ fibrinogen_mass: '160', haematological_response: 'responder' });
  });
});
