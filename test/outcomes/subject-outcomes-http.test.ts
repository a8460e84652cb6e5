// Fixtures WRITTEN FOR THE TESTS (invented children and results).
import type { AdverseEvent, Bundle, Flag, Observation, ResearchSubject } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll as enrollSubject } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const j = JSON.stringify;
const OUTCOMES = 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes';

function lab(
  patient: string,
  code: string,
  value: number,
  unit: string,
  date: string,
  range?: { low?: number; high?: number },
  system = 'http://loinc.org',
): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: date,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    ...(range
      ? {
          referenceRange: [
            {
              ...(range.low !== undefined
                ? { low: { value: range.low, unit, system: 'http://unitsofmeasure.org', code: unit } }
                : {}),
              ...(range.high !== undefined
                ? { high: { value: range.high, unit, system: 'http://unitsofmeasure.org', code: unit } }
                : {}),
            },
          ],
        }
      : {}),
  };
}

describe('one subject’s outcomes through the API', () => {
  let s: TestService;
  const subject: Record<string, string> = {};

  const enroll = async (patient: string, birthDate: string, status: string, start?: string, arm = 'low-dose') => {
    subject[patient] = await enrollSubject(s, patient, { birthDate, status, ...(start ? { start, arm } : {}) });
  };
  const push = async (body: unknown, type = 'Observation') => {
    const r = await s.call(`/fhir/${type}`, { method: 'POST', role: 'ehr-feed', body: j(body) });
    expect(r.status, await r.clone().text()).toBe(201);
    return (await r.json()) as { id: string };
  };
  const outcomes = async (patient: string, code: string): Promise<Observation[]> => {
    const b = (await (
      await s.call(
        `/fhir/Observation?research-subject=ResearchSubject/${subject[patient]}&code=${OUTCOMES}|${code}&_count=100`,
      )
    ).json()) as Bundle<Observation>;
    return (b.entry ?? []).map((e) => e.resource as Observation);
  };

  beforeAll(async () => {
    s = await startTestService({ OUTCOMES_WORKER: 'off' });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('moves a screening subject to eligible once every criterion is known, with each criterion shown', async () => {
    await enroll('scr-1', '2019-03-01', 'screening');
    const day = '2022-01-05T08:00:00+08:00';
    await push(lab('scr-1', '1975-2', 0.9, 'mg/dL', day, { high: 1.0 }));
    await push(lab('scr-1', '1742-6', 60, 'U/L', day, { high: 40 }));
    await s.service.outcomes.drain();
    let e = (await outcomes('scr-1', 'eligibility'))[0] as Observation;
    expect(e.valueCodeableConcept?.coding?.[0]?.code).toBe('undetermined');
    let rs = (await (await s.call(`/fhir/ResearchSubject/${subject['scr-1']}`)).json()) as ResearchSubject;
    expect(rs.status).toBe('screening');

    await push(lab('scr-1', '1920-8', 50, 'U/L', day, { high: 45 }));
    await push(lab('scr-1', '2160-0', 35, 'umol/L', day));
    await push(lab('scr-1', '751-8', 1.2, '10*9/L', day));
    await s.service.outcomes.drain();
    e = (await outcomes('scr-1', 'eligibility'))[0] as Observation;
    expect(e.valueCodeableConcept?.coding?.[0]?.code).toBe('eligible');
    expect(e.component?.map((c) => c.valueCodeableConcept?.coding?.[0]?.code)).toEqual([
      'met',
      'met',
      'met',
      'met',
      'met',
      'met',
    ]);
    expect(e.derivedFrom).toHaveLength(5);
    rs = (await (await s.call(`/fhir/ResearchSubject/${subject['scr-1']}`)).json()) as ResearchSubject;
    expect(rs.status).toBe('eligible');
  });

  it('moves a candidate to ineligible when a criterion fails (ALT above 2.5 × its own ULN)', async () => {
    await enroll('scr-2', '2019-03-01', 'candidate');
    await push(lab('scr-2', '1742-6', 101, 'U/L', '2022-01-05', { high: 40 }));
    await s.service.outcomes.drain();
    const e = (await outcomes('scr-2', 'eligibility'))[0] as Observation;
    expect(e.valueCodeableConcept?.coding?.[0]?.code).toBe('ineligible');
    const rs = (await (await s.call(`/fhir/ResearchSubject/${subject['scr-2']}`)).json()) as ResearchSubject;
    expect(rs.status).toBe('ineligible');
  });

  it('raises a Flag when a trough is out of target and clears it when a later one is in range', async () => {
    await enroll('tr-1', '2019-03-01', 'on-study', '2022-01-10', 'regular-dose');
    await push(lab('tr-1', '29247-4', 8.2, 'ng/mL', '2022-02-01T08:00:00+08:00'));
    await s.service.outcomes.drain();
    const flags = async () =>
      (
        (await (await s.call(`/fhir/Flag?research-subject=ResearchSubject/${subject['tr-1']}`)).json()) as Bundle<Flag>
      ).entry?.map((e) => e.resource as Flag) ?? [];
    let f = await flags();
    expect(f.map((x) => x.status)).toEqual(['active']);
    expect(f[0]?.code?.text).toContain('below target: 8.2 ng/mL');
    await push(lab('tr-1', '29247-4', 12.5, 'ng/mL', '2022-02-15T08:00:00+08:00'));
    await s.service.outcomes.drain();
    f = await flags();
    expect(f.map((x) => [x.status, x.period?.end])).toEqual([['inactive', '2022-02-15T08:00:00+08:00']]);
    // The flag and the trough statuses reveal the arm: the outcome assessor sees none of them.
    const blind = (await (await s.call('/fhir/Flag', { role: 'outcome-assessor' })).json()) as Bundle;
    expect(blind.entry ?? []).toEqual([]);
  });

  it('proposes a dose from the current MedicationRequest, for a clinician to confirm', async () => {
    await s.call('/fhir/MedicationRequest', {
      method: 'POST',
      body: j({
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: {
          coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '35302', display: 'sirolimus' }],
        },
        subject: { reference: 'Patient/tr-1' },
        authoredOn: '2022-01-10',
        dosageInstruction: [
          {
            doseAndRate: [
              { doseQuantity: { value: 0.8, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } },
            ],
          },
        ],
      }),
    });
    await push(lab('tr-1', '29247-4', 20, 'ng/mL', '2022-03-01T08:00:00+08:00'));
    await s.service.outcomes.drain();
    const d = (await outcomes('tr-1', 'dose-estimate'))[0] as Observation;
    expect(d.valueQuantity).toMatchObject({ value: 0.5, code: 'mg' });
    expect(d.note?.[0]?.text).toContain('to be confirmed by a clinician');
  });

  it('suggests a graded laboratory adverse event on treatment, and withdraws it when the result is retracted', async () => {
    await enroll('ae-1', '2019-03-01', 'on-study', '2022-01-10');
    const src = await push({
      ...lab('ae-1', '1742-6', 250, 'U/L', '2022-02-10', { high: 40 }),
      identifier: [{ system: 'urn:lab', value: 'alt-1' }],
    });
    await s.service.outcomes.drain();
    const find = async () =>
      (
        (await (
          await s.call(
            '/fhir/AdverseEvent?_tag=https://khe-trial.example.org/fhir/CodeSystem/review-status|suggested&subject=Patient/ae-1',
          )
        ).json()) as Bundle<AdverseEvent>
      ).entry?.map((e) => e.resource as AdverseEvent) ?? [];
    const ae = await find();
    expect(ae).toHaveLength(1);
    expect(ae[0]?.event?.coding?.[0]?.code).toBe('10001551');
    expect(ae[0]?.extension?.find((e) => e.url.endsWith('/ae-grade'))?.valueCodeableConcept?.coding?.[0]?.code).toBe(
      '3',
    );
    const r = await s.call(`/fhir/Observation/${src.id}`, {
      method: 'PUT',
      role: 'ehr-feed',
      body: j({
        ...lab('ae-1', '1742-6', 250, 'U/L', '2022-02-10', { high: 40 }),
        id: src.id,
        identifier: [{ system: 'urn:lab', value: 'alt-1' }],
        status: 'entered-in-error',
      }),
    });
    expect(r.status).toBe(200);
    await s.service.outcomes.drain();
    expect(await find()).toEqual([]);
  });

  it('counts adverse events per arm: subjects and events per term, and the worst grade', async () => {
    await enroll('aec-1', '2019-03-01', 'on-study', '2022-01-10', 'regular-dose');
    const ae = (grade: string, date: string) => ({
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
      event: { coding: [{ system: 'https://www.meddra.org', code: '10028130', display: 'Mucositis oral' }] },
      subject: { reference: 'Patient/aec-1' },
      date,
    });
    await push(ae('2', '2022-02-01'), 'AdverseEvent');
    await push(ae('3', '2022-03-01'), 'AdverseEvent');
    await s.service.outcomes.drain();
    const worst = (await outcomes('aec-1', 'ae-worst-grade'))[0] as Observation;
    expect(worst.valueQuantity?.value).toBe(3);
    expect(worst.derivedFrom).toHaveLength(2);
    const mr = (await (await s.call('/fhir/MeasureReport/mr-nct04775173-regular-dose-overall')).json()) as {
      group: {
        code: { text: string };
        stratifier?: {
          stratum: { value: { text: string }; population: { count: number }[]; measureScore?: { value: number } }[];
        }[];
      }[];
    };
    const terms = mr.group.find((g) => g.code.text === 'ae-term')?.stratifier?.[0]?.stratum;
    expect(terms?.map((t) => [t.value.text, t.population[0]?.count, t.measureScore?.value])).toEqual([
      ['Mucositis oral', 1, 2],
    ]);
  });

  it('scores PedsQL with the form for the child’s age, and refuses to score the wrong age form', async () => {
    await enroll('qol-1', '2021-06-01', 'on-study', '2022-01-10');
    const answers = (prefix: string, n: number, raw: number) =>
      Array.from({ length: n }, (_, i) => ({ linkId: `${prefix}${i + 1}`, answer: [{ valueInteger: raw }] }));
    const qr = (form: string, date: string) => ({
      resourceType: 'QuestionnaireResponse',
      questionnaire: `https://khe-trial.example.org/fhir/Questionnaire/${form}`,
      status: 'completed',
      subject: { reference: 'Patient/qol-1' },
      authored: date,
      item: [
        { linkId: 'PF', item: answers('PF', 6, 0) },
        { linkId: 'PS', item: answers('PS', 10, 2) },
        { linkId: 'EF', item: answers('EF', 12, 1) },
        { linkId: 'SF', item: answers('SF', 2, 4) },
        { linkId: 'CF', item: answers('CF', 4, 4) },
      ],
    });
    // Month 6 (day 182 = 2022-07-11): the child is 13 months old, so the 1–12 month form is the wrong one.
    await push(qr('pedsql-infant-1-12m', '2022-07-11'), 'QuestionnaireResponse');
    await s.service.outcomes.drain();
    let total = (await outcomes('qol-1', 'pedsql-total'))[0] as Observation;
    expect(total.dataAbsentReason?.text).toContain('is for 1-12 months; the child was 13');
    // Month 12 with the right form is scored; SF has 2 of 5 and CF 4 of 9 items answered (more than half missing: not computed).
    const infant13 = qr('pedsql-infant-13-24m', '2023-01-09');
    infant13.item = [
      { linkId: 'PF', item: answers('PF', 9, 0) },
      { linkId: 'PS', item: answers('PS', 10, 2) },
      { linkId: 'EF', item: answers('EF', 12, 1) },
      { linkId: 'SF', item: answers('SF', 2, 4) },
      { linkId: 'CF', item: answers('CF', 4, 4) },
    ];
    await push(infant13, 'QuestionnaireResponse');
    await s.service.outcomes.drain();
    const totals = await outcomes('qol-1', 'pedsql-total');
    total = totals.find((o) => o.extension?.some((e) => e.valueCoding?.code === 'month-12')) as Observation;
    const scale = (id: string) => total.component?.find((c) => c.code.coding?.[0]?.display === id);
    expect(scale('PF')?.valueQuantity?.value).toBe(100);
    expect(scale('SF')?.dataAbsentReason?.text).toContain('more than half');
    expect(scale('CF')?.dataAbsentReason?.text).toContain('more than half');
    // total: 9×100 + 10×50 + 12×75 + 2×0 + 4×0 over 37 items
    expect(total.valueQuantity?.value).toBe(Math.round(((900 + 500 + 900) / 37) * 100) / 100);
  });
});

describe('the background outcomes worker', () => {
  it('recomputes a subject shortly after its result is committed, with no admin call', async () => {
    const s = await startTestService({ OUTCOMES_WORKER: 'on', OUTCOMES_IDLE_MS: '50' });
    try {
      await enrollSubject(s, 'bg-1', { birthDate: '2020-01-01', start: '2022-01-10' });
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: j(lab('bg-1', '29247-4', 7, 'ng/mL', '2022-02-08')),
      });
      expect(r.status).toBe(201);
      let found = 0;
      for (let i = 0; i < 100 && found === 0; i++) {
        await new Promise((res) => setTimeout(res, 50));
        const b = (await (
          await s.call(`/fhir/Observation?code=${OUTCOMES}|trough-status&_summary=count`)
        ).json()) as Bundle;
        found = b.total ?? 0;
      }
      expect(found).toBe(1);
      expect(((await (await s.call('/admin/outcomes')).json()) as { pendingMarks: number }).pendingMarks).toBe(0);
    } finally {
      await s.stop();
    }
  });
});
