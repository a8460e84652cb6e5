// Golden test over the SYNTHETIC cohort (test/support/synthetic-cohort.ts, written for the tests),
// with a few extra invented inputs (screening labs, on-treatment labs, a dose, an adverse event,
// forms) so that every rule of NCT04775173 publishes something. Everything the outcomes stage
// publishes through the API is captured: each outcome's value, category or reason, its rule and
// citation, the Flags, the suggested adverse events, each MeasureReport's counts, the flat export
// and its dictionary. The committed file was written by today's code before the outcomes became
// declarations in study.json: the declared outcomes must publish exactly the same.
// Regenerate only on purpose: UPDATE_GOLDEN=1 npx vitest run test/outcomes/golden-nct04775173.test.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateResource } from '@medplum/core';
import type { AdverseEvent, Bundle, Flag, MeasureReport, Observation, Provenance, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../src/mapping/profiles.ts';
import { effectiveOf, feedBundle, type SyntheticSubject, syntheticCohort } from '../support/synthetic-cohort.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const GOLDEN = join(import.meta.dirname, 'golden', 'nct04775173.json');
const OUTCOMES = 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes';
const UCUM = 'http://unitsofmeasure.org';
const j = JSON.stringify;

function addTo(map: Record<string, string[]>, key: string, line: string): void {
  const list = map[key] ?? [];
  list.push(line);
  map[key] = list;
}

function lab(
  s: SyntheticSubject,
  code: string,
  day: number,
  value: number,
  unit: string,
  range?: { low?: number; high?: number },
): Observation {
  const q = (v: number) => ({ value: v, unit, system: UCUM, code: unit });
  return {
    resourceType: 'Observation',
    status: 'final',
    identifier: [{ system: 'urn:golden:lab', value: `${s.patientId}-${code}-${day}` }],
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { identifier: { system: 'urn:synthetic:mrn', value: s.mrn } },
    effectiveDateTime: effectiveOf(s, day),
    valueQuantity: q(value),
    ...(range
      ? {
          referenceRange: [
            {
              ...(range.low !== undefined ? { low: q(range.low) } : {}),
              ...(range.high !== undefined ? { high: q(range.high) } : {}),
            },
          ],
        }
      : {}),
  };
}

/** Extra invented inputs for the first subjects, so eligibility, safety, doses and forms are exercised. */
function extras(cohort: SyntheticSubject[]): { type: string; body: Resource }[] {
  const out: { type: string; body: Resource }[] = [];
  const obs = (o: Observation) => out.push({ type: 'Observation', body: o });
  // Screening labs for subjects 0-5: eligible, ineligible by ALT, by ANC, by creatinine; one unknown ULN.
  cohort.slice(0, 6).forEach((s, i) => {
    obs(lab(s, '1975-2', -5, 0.6, 'mg/dL', { high: 1.0 }));
    obs(lab(s, '1742-6', -5, i === 1 ? 120 : 30, 'U/L', { high: 40 }));
    obs(lab(s, '1920-8', -5, 35, 'U/L', i === 5 ? undefined : { high: 45 }));
    obs(lab(s, '2160-0', -5, i === 3 ? 1.4 : 0.4, 'mg/dL'));
    obs(lab(s, '751-8', -5, i === 2 ? 0.8 : 2.1, '10*9/L', { low: 1.5 }));
  });
  // On treatment: ANC and ALT/AST out of range (suggested adverse events), weight.
  cohort.slice(0, 4).forEach((s, i) => {
    obs(lab(s, '751-8', 30, [0.4, 0.9, 1.3, 1.45][i] as number, '10*9/L', { low: 1.5 }));
    obs(lab(s, '1742-6', 31, [50, 130, 250, 900][i] as number, 'U/L', { high: 40 }));
    obs(lab(s, '1920-8', 32, [30, 200, 46, 950][i] as number, 'U/L', { high: 45 }));
    obs(lab(s, '29463-7', 30, 8 + i, 'kg'));
  });
  // Sirolimus doses for subjects 1 and 2 (dose estimate after the last trough).
  for (const [i, dose, startDay] of [
    [1, 0.8, 0],
    [2, 0.4, 355],
  ] as const) {
    const s = cohort[i] as SyntheticSubject;
    out.push({
      type: 'MedicationRequest',
      body: {
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: {
          coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '35302', display: 'sirolimus' }],
        },
        subject: { reference: `Patient/${s.patientId}` },
        authoredOn: effectiveOf(s, startDay).slice(0, 10),
        dosageInstruction: [{ doseAndRate: [{ doseQuantity: { value: dose, unit: 'mg', system: UCUM, code: 'mg' } }] }],
      },
    });
  }
  // Adverse events for subject 3.
  const s3 = cohort[3] as SyntheticSubject;
  for (const [grade, day, term, code] of [
    ['2', 40, 'Mucositis oral', '10028130'],
    ['3', 100, 'Mucositis oral', '10028130'],
    ['1', 200, 'Hypercholesterolemia', '10020603'],
  ] as const) {
    out.push({
      type: 'AdverseEvent',
      body: {
        resourceType: 'AdverseEvent',
        actuality: 'actual',
        extension: [
          {
            url: 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade',
            valueCodeableConcept: {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/adverse-event-clinical-research-grades', code: grade },
              ],
            },
          },
        ],
        event: { coding: [{ system: 'https://www.meddra.org', code, display: term }] },
        subject: { reference: `Patient/${s3.patientId}` },
        date: effectiveOf(s3, day),
      },
    });
  }
  // Forms: PedsQL for subject 0 (13 months at month 6, so the 13-24 month form) and the
  // musculoskeletal score for subjects 0 and 4.
  const s0 = cohort[0] as SyntheticSubject;
  const answers = (prefix: string, n: number, raw: number) =>
    Array.from({ length: n }, (_, k) => ({ linkId: `${prefix}${k + 1}`, answer: [{ valueInteger: raw }] }));
  for (const [form, day, pf] of [
    ['pedsql-infant-13-24m', 182, 9],
    ['pedsql-infant-1-12m', 365, 6],
  ] as const) {
    out.push({
      type: 'QuestionnaireResponse',
      body: {
        resourceType: 'QuestionnaireResponse',
        questionnaire: `https://khe-trial.example.org/fhir/Questionnaire/${form}`,
        status: 'completed',
        subject: { reference: `Patient/${s0.patientId}` },
        authored: effectiveOf(s0, day),
        item: [
          { linkId: 'PF', item: answers('PF', pf, 1) },
          { linkId: 'PS', item: answers('PS', 10, 2) },
          { linkId: 'EF', item: answers('EF', 12, 0) },
          { linkId: 'SF', item: answers('SF', 2, 3) },
          { linkId: 'CF', item: answers('CF', 4, 4) },
        ],
      },
    });
  }
  for (const [i, scores] of [
    [0, [3, 2, 2, 1]],
    [4, [2, 3]],
  ] as const) {
    const s = cohort[i] as SyntheticSubject;
    scores.forEach((score, k) => {
      out.push({
        type: 'QuestionnaireResponse',
        body: {
          resourceType: 'QuestionnaireResponse',
          questionnaire: 'https://khe-trial.example.org/fhir/Questionnaire/msk-complication-score',
          status: 'completed',
          subject: { reference: `Patient/${s.patientId}` },
          authored: effectiveOf(s, [-1, 91, 182, 365][k] as number),
          item: [{ linkId: 'msk-score', answer: [{ valueInteger: score }] }],
        },
      });
    });
  }
  return out;
}

function resultText(r: {
  valueQuantity?: { value?: number; code?: string };
  valueCodeableConcept?: { coding?: { code?: string; display?: string }[] };
  dataAbsentReason?: { text?: string };
}): string {
  if (r.valueQuantity) return `${r.valueQuantity.value} ${r.valueQuantity.code}`;
  const c = r.valueCodeableConcept?.coding?.[0];
  if (c) return `${c.code} (${c.display})`;
  return r.dataAbsentReason?.text ?? '?';
}

interface Golden {
  outcomes: Record<string, string[]>;
  flags: Record<string, string[]>;
  suggestions: Record<string, string[]>;
  measureReports: Record<string, string[]>;
  flatExport: string[];
  dictionary: unknown;
}

describe('golden: NCT04775173 publishes the same outcomes over the synthetic cohort', () => {
  let s: TestService;
  const cohort = syntheticCohort();
  /** ResearchSubject id → patient id (ids of POSTed subjects differ from run to run). */
  const patientOf = new Map<string, string>();
  let got: Golden;
  /** Every published outcome Observation, as served. */
  const published: Observation[] = [];

  const all = async <T extends Resource>(path: string): Promise<T[]> => {
    const b = (await (await s.call(path, { role: 'research' })).json()) as Bundle<T>;
    expect(b.link?.some((l) => l.relation === 'next') ?? false).toBe(false);
    return (b.entry ?? []).map((e) => e.resource as T);
  };
  const subjectKey = (r: { extension?: { url: string; valueReference?: { reference?: string } }[] }): string => {
    const ref = r.extension?.find((e) => e.url.endsWith('/research-subject'))?.valueReference?.reference ?? '';
    return patientOf.get(ref.replace('ResearchSubject/', '')) ?? ref;
  };
  const visitOf = (r: { extension?: { url: string; valueCoding?: { code?: string } }[] }): string =>
    r.extension?.find((e) => e.url.endsWith('/visit'))?.valueCoding?.code ?? '';

  beforeAll(async () => {
    s = await startTestService({ OUTCOMES_WORKER: 'off' });
    for (const c of cohort) {
      const p = await s.call(`/fhir/Patient/${c.patientId}`, {
        method: 'PUT',
        body: j({
          resourceType: 'Patient',
          id: c.patientId,
          birthDate: c.birthDate,
          identifier: [{ system: 'urn:synthetic:mrn', value: c.mrn }],
        }),
      });
      expect(p.status).toBe(201);
      const rs = await s.call('/fhir/ResearchSubject', {
        method: 'POST',
        body: j({
          resourceType: 'ResearchSubject',
          status: 'on-study',
          identifier: [{ system: 'urn:golden:enrolment', value: `E-${c.index}` }],
          study: { reference: 'ResearchStudy/nct04775173' },
          individual: { reference: `Patient/${c.patientId}` },
          assignedArm: c.arm,
          period: { start: c.start },
        }),
      });
      expect(rs.status).toBe(201);
      patientOf.set(((await rs.json()) as { id: string }).id, c.patientId);
    }
    for (const c of cohort) {
      const res = await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: j(feedBundle(c)) });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    for (const x of extras(cohort)) {
      const role = x.type === 'MedicationRequest' ? 'admin' : 'ehr-feed';
      const res = await s.call(`/fhir/${x.type}`, { method: 'POST', role, body: j(x.body) });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    await s.service.outcomes.drain();

    const outcomes: Record<string, string[]> = {};
    for (const [rsId, patient] of patientOf) {
      const obs = await all<Observation>(`/fhir/Observation?research-subject=ResearchSubject/${rsId}&_count=1000`);
      published.push(...obs.filter((o) => o.code?.coding?.some((c) => c.system === OUTCOMES)));
      outcomes[patient] = obs
        .filter((o) => o.code?.coding?.some((c) => c.system === OUTCOMES))
        .map((o) =>
          [
            o.code?.coding?.[0]?.code,
            visitOf(o),
            o.effectiveDateTime ?? '',
            o.code?.text,
            resultText(o),
            (o.component ?? []).map((c) => `${c.code.coding?.[0]?.code}/${c.code.text}=${resultText(c)}`).join('; '),
            `from ${o.derivedFrom?.length ?? 0}`,
            o.method?.coding?.map((c) => `${c.code}: ${c.display}`).join(),
            o.meta?.security?.map((l) => l.code).join() ?? '',
            o.meta?.profile?.join() ?? '',
            o.note?.map((n) => n.text).join() ?? '',
          ].join(' | '),
        )
        .sort();
    }
    const flags: Record<string, string[]> = {};
    for (const f of await all<Flag>('/fhir/Flag?_count=1000')) {
      addTo(flags, subjectKey(f), `${f.status} | ${f.code?.text} | ${f.period?.start} - ${f.period?.end ?? ''}`);
    }
    const suggestions: Record<string, string[]> = {};
    for (const a of await all<AdverseEvent>(
      '/fhir/AdverseEvent?_tag=https://khe-trial.example.org/fhir/CodeSystem/review-status|suggested&_count=1000',
    )) {
      const grade = a.extension?.find((e) => e.url.endsWith('/ae-grade'))?.valueCodeableConcept?.coding?.[0]?.code;
      const key = (a.subject?.reference ?? '').replace('Patient/', '');
      addTo(suggestions, key, `${a.event?.coding?.[0]?.code} | grade ${grade} | ${a.date} | ${a.event?.text}`);
    }
    for (const list of [...Object.values(flags), ...Object.values(suggestions)]) list.sort();
    const measureReports: Record<string, string[]> = {};
    for (const r of await all<MeasureReport>('/fhir/MeasureReport?_count=1000')) {
      measureReports[r.id as string] = [
        `measure ${r.measure} | ${r.period?.start}`,
        ...(r.group ?? []).map((g) =>
          [
            g.code?.coding?.[0]?.code,
            `n=${g.population?.[0]?.count}`,
            g.measureScore ? `score ${g.measureScore.value} ${g.measureScore.unit}` : '',
            (g.stratifier?.[0]?.stratum ?? [])
              .map(
                (st) =>
                  `${st.value?.text}:${st.population?.[0]?.count}${st.measureScore ? `/${st.measureScore.value}` : ''}`,
              )
              .join(', '),
          ].join(' | '),
        ),
      ];
    }
    const csv = await (await s.call('/research/flat-export.csv', { role: 'research' })).text();
    const [header, ...lines] = csv.trimEnd().split('\r\n');
    const flatExport = [
      header as string,
      ...lines
        .map((l) => {
          const cells = l.split(',');
          cells[1] = patientOf.get(cells[1] as string) ?? (cells[1] as string);
          return cells.join(',');
        })
        .sort(),
    ];
    const dictionary = await (await s.call('/research/flat-export/dictionary', { role: 'research' })).json();
    got = { outcomes, flags, suggestions, measureReports, flatExport, dictionary };
    if (process.env.UPDATE_GOLDEN === '1') {
      writeFileSync(GOLDEN, `${JSON.stringify(got, null, 2)}\n`);
    }
  }, 300_000);
  afterAll(async () => {
    await s.stop();
  });

  const golden = (): Golden => JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden;

  it('covers every rule: the capture is not empty where it matters', () => {
    const codes = new Set(Object.values(got.outcomes).flatMap((l) => l.map((x) => x.split(' | ')[0])));
    expect([...codes].sort()).toEqual([
      'ae-worst-grade',
      'dose-estimate',
      'eligibility',
      'fibrinogen-change',
      'fibrinogen-percent-change',
      'km-response',
      'msk-change',
      'msk-score',
      'pedsql-physical',
      'pedsql-psychosocial',
      'pedsql-total',
      'platelet-change',
      'platelet-percent-change',
      'time-in-range',
      'trough-status',
      'troughs-in-range',
      'visit-compliance',
      'volume-percent-change',
      'volume-response',
    ]);
    expect(Object.keys(got.suggestions).length).toBeGreaterThan(3);
    expect(Object.keys(got.measureReports).length).toBeGreaterThan(8);
    expect(got.flatExport).toHaveLength(1 + 30 * 5);
  });

  it('publishes every outcome value, category, reason and citation as the golden file holds', () => {
    expect(got.outcomes).toEqual(golden().outcomes);
  });

  it('publishes outcomes that conform to the generated trial-outcome-nct04775173-<code> profiles in profiles/', async () => {
    const profiles = await loadProfiles(join(import.meta.dirname, '..', '..', 'profiles'));
    expect(published.length).toBeGreaterThan(500);
    for (const o of published) {
      const code = o.code?.coding?.[0]?.code as string;
      const profile = profiles.get(
        `https://khe-trial.example.org/fhir/StructureDefinition/trial-outcome-nct04775173-${code}`,
      );
      expect(profile, code).toBeDefined();
      expect(() => validateResource(o, { profile }), `${o.id} ${code}`).not.toThrow();
    }
  });

  it('publishes Provenance that is valid R4 JSON: no empty arrays, even for a rule without inputs', async () => {
    const provenance = await all<Provenance>('/fhir/Provenance?_count=1000');
    expect(provenance.length).toBeGreaterThan(100);
    // Eligibility without any screening lab has no source: that Provenance must leave entity out.
    expect(provenance.some((p) => p.entity === undefined)).toBe(true);
    const empty = (v: unknown, path: string): string[] =>
      Array.isArray(v)
        ? v.length === 0
          ? [path]
          : v.flatMap((x, i) => empty(x, `${path}[${i}]`))
        : v !== null && typeof v === 'object'
          ? Object.entries(v).flatMap(([k, x]) => empty(x, `${path}.${k}`))
          : [];
    for (const p of provenance) {
      expect(empty(p, 'Provenance'), p.id).toEqual([]);
      expect(() => validateResource(p), p.id).not.toThrow();
    }
  });

  it('raises the same Flags and suggests the same adverse events', () => {
    expect(got.flags).toEqual(golden().flags);
    expect(got.suggestions).toEqual(golden().suggestions);
  });

  it('publishes the same MeasureReport counts', () => {
    expect(got.measureReports).toEqual(golden().measureReports);
  });

  it('exports the same flat table cell by cell, and the same dictionary', () => {
    const want = golden();
    expect(got.flatExport[0]).toBe(want.flatExport[0]);
    expect(got.flatExport).toEqual(want.flatExport);
    expect(got.dictionary).toEqual(want.dictionary);
  });
});
