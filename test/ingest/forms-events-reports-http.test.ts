// Fixtures WRITTEN FOR THE TESTS: the musculoskeletal form, its answers, the adverse events and the
// fibrinogen and platelet results are invented (no public source has them).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateResource } from '@medplum/core';
import type {
  AdverseEvent,
  Bundle,
  DiagnosticReport,
  Observation,
  OperationOutcome,
  QuestionnaireResponse,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../src/mapping/profiles.ts';
import { trialRecordId } from '../../src/records/trial-record.ts';
import { enroll } from '../support/enroll.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const json = (r: unknown) => JSON.stringify(r);
const MSK = 'https://khe-trial.example.org/fhir/Questionnaire/msk-test';
const GRADE = 'http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/ae-grade';
const CAUSALITY = 'https://khe-trial.example.org/fhir/CodeSystem/ctcae-attribution';
const PATIENT = { reference: 'Patient/khe-021' };

/** The real study definition plus one form, and the form's Questionnaire, in a temporary mappings/. */
function mappingsWithForm(): { studies: string; questionnaires: string } {
  const dir = mkdtempSync(join(tmpdir(), 'khe-forms-'));
  const study = JSON.parse(readFileSync(join(ROOT, 'mappings/studies/NCT04775173/study.json'), 'utf8'));
  study.forms = [{ id: 'msk-test', questionnaire: MSK, dueAt: ['baseline', 'month-3'] }];
  // The declared outcomes follow: no PedsQL forms, the musculoskeletal score read from the test form.
  study.outcomes = (study.outcomes as { rule: string }[])
    .filter((o) => o.rule !== 'pro-score')
    .map((o) => (o.rule === 'musculoskeletal-score' ? { ...o, form: 'msk-test' } : o));
  mkdirSync(join(dir, 'studies', 'NCT04775173'), { recursive: true });
  writeFileSync(join(dir, 'studies', 'NCT04775173', 'study.json'), json(study));
  cpSync(join(ROOT, 'test/fixtures/questionnaires'), join(dir, 'questionnaires'), { recursive: true });
  return { studies: join(dir, 'studies'), questionnaires: join(dir, 'questionnaires') };
}

function msk(score: unknown, extra: Partial<QuestionnaireResponse> = {}): QuestionnaireResponse {
  return {
    resourceType: 'QuestionnaireResponse',
    questionnaire: `${MSK}|0.1.0`,
    status: 'completed',
    subject: PATIENT,
    authored: '2022-04-11T10:00:00+08:00',
    item: [
      { linkId: 'msk-score', text: 'Wording as the EHR showed it', answer: [{ valueInteger: score as number }] },
      {
        linkId: 'assessor',
        answer: [
          { valueCoding: { system: 'https://khe-trial.example.org/fhir/CodeSystem/assessor', code: 'orthopaedist' } },
        ],
      },
    ],
    ...extra,
  };
}

function adverseEvent(grade: string, causality = 'possible'): AdverseEvent {
  return {
    resourceType: 'AdverseEvent',
    extension: [
      {
        url: GRADE,
        valueCodeableConcept: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/adverse-event-clinical-research-grades', code: grade },
          ],
        },
      },
    ],
    actuality: 'actual',
    event: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/MDRAE', code: '10028130', display: 'Mucositis oral' }],
    },
    subject: PATIENT,
    date: '2022-03-02',
    suspectEntity: [
      {
        instance: { display: 'sirolimus' },
        causality: [{ assessment: { coding: [{ system: CAUSALITY, code: causality }] } }],
      },
    ],
  };
}

function lab(code: string, value: number, unit: string, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: PATIENT,
    effectiveDateTime: '2022-04-12T07:40:00+08:00',
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    ...extra,
  };
}

describe('forms, adverse events and reports from an EHR feed (HTTP)', () => {
  let s: TestService;
  let subjectId: string;
  beforeAll(async () => {
    const m = mappingsWithForm();
    s = await startTestService({ STUDIES_DIR: m.studies, QUESTIONNAIRES_DIR: m.questionnaires });
    subjectId = await enroll(s, 'khe-021', { birthDate: '2019-05-01', start: '2022-01-10' });
  });
  afterAll(async () => {
    await s.stop();
  });

  const feed = (type: string, body: unknown) =>
    s.call(`/fhir/${type}`, { method: 'POST', role: 'ehr-feed', body: json(body) });
  const issues = async (res: Response) => ((await res.json()) as OperationOutcome).issue ?? [];

  it('loads the study form as a Questionnaire resource', async () => {
    const res = await s.call(`/fhir/Questionnaire?url=${encodeURIComponent(MSK)}`, { role: 'research' });
    const b = (await res.json()) as Bundle;
    expect(b.entry?.map((e) => e.resource?.id)).toEqual(['msk-test']);
  });

  it('keeps a valid response as a trial record placed in its visit, without the item wording', async () => {
    const res = await feed('QuestionnaireResponse', msk(2));
    expect(res.status).toBe(201);
    const source = (await res.json()) as QuestionnaireResponse;
    const recId = trialRecordId(`QuestionnaireResponse/${source.id}`, subjectId, 'msk-test');
    const rec = (await (await s.call(`/fhir/QuestionnaireResponse/${recId}`)).json()) as QuestionnaireResponse;
    expect(rec.questionnaire).toBe(MSK);
    expect(rec.item?.[0]).toEqual({ linkId: 'msk-score', answer: [{ valueInteger: 2 }] });
    expect(JSON.stringify(rec)).not.toContain('Wording as the EHR showed it');
    const visit = rec.extension?.find((e) => e.url.endsWith('/visit'))?.valueCoding?.code;
    expect(visit).toBe('month-3');
    const found = (await (
      await s.call(`/fhir/QuestionnaireResponse?research-subject=ResearchSubject/${subjectId}&visit=month-3`, {
        role: 'research',
      })
    ).json()) as Bundle;
    expect(found.entry?.map((e) => e.resource?.id)).toEqual([recId]);
  });

  it.each([
    ['a score outside 1–4', msk(5), 'outside 1–4'],
    [
      'an answer of the wrong type',
      { ...msk(2), item: [{ linkId: 'msk-score', answer: [{ valueString: '3' }] }] },
      'not an answer of that type',
    ],
    [
      'an unknown linkId',
      { ...msk(2), item: [{ linkId: 'nope', answer: [{ valueInteger: 1 }] }] },
      'unknown linkId nope',
    ],
    [
      'an option the form does not allow',
      {
        ...msk(2),
        item: [
          { linkId: 'msk-score', answer: [{ valueInteger: 2 }] },
          { linkId: 'assessor', answer: [{ valueCoding: { system: 'x', code: 'nurse' } }] },
        ],
      },
      'not one of the allowed answers',
    ],
    ['a completed form without its required item', { ...msk(2), item: [] }, 'required item msk-score'],
    [
      'two answers to an item that does not repeat',
      { ...msk(2), item: [{ linkId: 'msk-score', answer: [{ valueInteger: 2 }, { valueInteger: 3 }] }] },
      'one answer only',
    ],
  ])('rejects %s with 422 and stores nothing', async (_name, body, text) => {
    const before = (await (await s.call('/fhir/QuestionnaireResponse?_summary=count')).json()) as Bundle;
    const res = await feed('QuestionnaireResponse', body);
    expect(res.status).toBe(422);
    expect(JSON.stringify(await issues(res))).toContain(text);
    const after = (await (await s.call('/fhir/QuestionnaireResponse?_summary=count')).json()) as Bundle;
    expect(after.total).toBe(before.total);
  });

  it('holds a response to a form the study does not know on the dead-letter list', async () => {
    const res = await feed('QuestionnaireResponse', {
      ...msk(2),
      questionnaire: 'https://elsewhere.example/Questionnaire/x',
    });
    expect(res.status).toBe(202);
    const is = await issues(res);
    expect(is[0]?.severity).toBe('warning');
    expect(is[0]?.details?.text).toContain('is not a form of the patient');
    const list = (await (await s.call('/admin/dead-letters')).json()) as { deadLetters: { reason: string }[] };
    expect(list.deadLetters.some((i) => i.reason.includes('https://elsewhere.example/Questionnaire/x'))).toBe(true);
  });

  it('does not keep a response of a patient who is not enrolled', async () => {
    const res = await feed('QuestionnaireResponse', { ...msk(2), subject: { reference: 'Patient/other' } });
    expect(res.status).toBe(202);
    expect((await issues(res))[0]?.severity).toBe('information');
  });

  it('keeps an adverse event as an AE Clinical Research backport record with grade and causality', async () => {
    const res = await feed('AdverseEvent', adverseEvent('3', 'probable'));
    expect(res.status).toBe(201);
    const source = (await res.json()) as AdverseEvent;
    const recId = trialRecordId(`AdverseEvent/${source.id}`, subjectId, 'adverse-event');
    const rec = (await (await s.call(`/fhir/AdverseEvent/${recId}`)).json()) as AdverseEvent;
    expect(rec.actuality).toBe('actual');
    expect(rec.study).toEqual([{ reference: 'ResearchStudy/nct04775173' }]);
    expect(rec.extension?.find((e) => e.url === GRADE)?.valueCodeableConcept?.coding?.[0]?.code).toBe('3');
    expect(
      rec.extension?.find((e) => e.url.endsWith('ae-research-backport-ig/StructureDefinition/research-subject-ref'))
        ?.valueReference?.reference,
    ).toBe(`ResearchSubject/${subjectId}`);
    expect(rec.suspectEntity?.[0]?.causality?.[0]?.assessment?.coding?.[0]?.code).toBe('probable');
    const bySubject = (await (
      await s.call(`/fhir/AdverseEvent?research-subject=ResearchSubject/${subjectId}&study=ResearchStudy/nct04775173`)
    ).json()) as Bundle;
    expect(bySubject.entry?.map((e) => e.resource?.id)).toEqual([recId]);
  });

  it.each([
    ['a grade outside 1–5', adverseEvent('6'), 'CTCAE grade 6 is not 1–5'],
    ['a causality off the 5-level scale', adverseEvent('2', 'maybe'), 'causality maybe is not one of'],
    ['no event term', { ...adverseEvent('2'), event: undefined }, 'adverse event term'],
  ])('rejects an adverse event with %s (422)', async (_n, body, text) => {
    const res = await feed('AdverseEvent', JSON.parse(json(body)));
    expect(res.status).toBe(422);
    expect(JSON.stringify(await issues(res))).toContain(text);
  });

  it('does not keep a potential adverse event', async () => {
    const res = await feed('AdverseEvent', { ...adverseEvent('2'), actuality: 'potential' });
    expect(res.status).toBe(202);
    expect((await issues(res))[0]?.details?.text).toContain('potential adverse event');
  });

  it.each([
    ['without an effective time', lab('3255-7', 210, 'mg/dL', { effectiveDateTime: undefined }), 'effective'],
    ['without a unit', lab('3255-7', 210, 'mg/dL', { valueQuantity: { value: 210 } }), 'states its unit'],
    [
      'with a string value',
      lab('3255-7', 210, 'mg/dL', { valueQuantity: undefined, valueString: 'low' }),
      'Quantity value',
    ],
    ['with status unknown', lab('3255-7', 210, 'mg/dL', { status: 'unknown' }), 'status is known'],
  ])('rejects a study result %s against its measure profile (422)', async (_n, body, text) => {
    const res = await feed('Observation', JSON.parse(json(body)));
    expect(res.status).toBe(422);
    const is = await issues(res);
    expect(JSON.stringify(is)).toContain(text);
    expect(JSON.stringify(is)).toContain('measure-result-nct04775173-fibrinogen');
  });

  it('derives trial records that conform to their generated profile (full snapshot validation)', async () => {
    const res = await feed('Observation', lab('3255-7', 210, 'mg/dL'));
    const source = (await res.json()) as Observation;
    const rec = (await (
      await s.call(`/fhir/Observation/${trialRecordId(`Observation/${source.id}`, subjectId, 'fibrinogen')}`)
    ).json()) as Observation;
    expect(rec.valueQuantity).toMatchObject({ value: 2.1, code: 'g/L' });
    const url = 'https://khe-trial.example.org/fhir/StructureDefinition/trial-record-nct04775173-fibrinogen';
    expect(rec.meta?.profile).toEqual([url]);
    const profiles = await loadProfiles(join(ROOT, 'profiles'));
    expect(() => validateResource(rec, { profile: profiles.get(url) })).not.toThrow();
  });

  it('keeps a DiagnosticReport with its kept results; references to results not kept stay unresolved', async () => {
    const tx: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:plt',
          resource: lab('777-3', 48, '10*3/uL'),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: 'urn:uuid:hgb',
          resource: lab('718-7', 10.1, 'g/dL'),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: 'urn:uuid:dr',
          resource: {
            resourceType: 'DiagnosticReport',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] },
            subject: PATIENT,
            effectiveDateTime: '2022-04-12T07:40:00+08:00',
            result: [{ reference: 'urn:uuid:plt' }, { reference: 'urn:uuid:hgb' }],
          },
          request: { method: 'POST', url: 'DiagnosticReport' },
        },
      ],
    };
    const res = await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: json(tx) });
    expect(res.status).toBe(200);
    const out = (await res.json()) as Bundle;
    expect(out.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '202 Accepted', '201 Created']);
    const idOf = (loc: string | undefined) => /\/(?:Observation|DiagnosticReport)\/([^/]+)\//.exec(loc ?? '')?.[1];
    const drId = idOf(out.entry?.[2]?.response?.location) as string;
    const pltId = idOf(out.entry?.[0]?.response?.location) as string;
    const dr = (await (await s.call(`/fhir/DiagnosticReport/${drId}`)).json()) as DiagnosticReport;
    expect(dr.result).toEqual([{ reference: `Observation/${pltId}` }, { reference: 'urn:uuid:hgb' }]);

    // A report whose results are all outside the study is not kept.
    const other: Bundle = {
      ...tx,
      entry: [
        tx.entry?.[1] as NonNullable<Bundle['entry']>[number],
        {
          ...(tx.entry?.[2] as NonNullable<Bundle['entry']>[number]),
          resource: { ...(tx.entry?.[2]?.resource as DiagnosticReport), result: [{ reference: 'urn:uuid:hgb' }] },
        },
      ],
    };
    const res2 = await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: json(other) });
    const out2 = (await res2.json()) as Bundle;
    expect(out2.entry?.map((e) => e.response?.status)).toEqual(['202 Accepted', '202 Accepted']);

    // A report POSTed on its own that points at a kept result is kept.
    const alone = await feed('DiagnosticReport', {
      ...(tx.entry?.[2]?.resource as DiagnosticReport),
      result: [{ reference: `Observation/${pltId}` }],
    });
    expect(alone.status).toBe(201);
  });
});
