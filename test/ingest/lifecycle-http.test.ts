// Fixtures WRITTEN FOR THE TESTS (no sirolimus or fibrinogen results exist in the public corpus).
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trialRecordId } from '../../src/records/trial-record.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const json = (r: unknown) => JSON.stringify(r);
const TAG = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';

function trough(id: string, status: Observation['status'], value: number, unit = 'ng/mL'): Observation {
  return {
    resourceType: 'Observation',
    id,
    identifier: [{ system: 'urn:oid:1.2.156.112606.1.2.1', value: id }],
    status,
    code: { coding: [{ system: 'urn:oid:1.2.156.112606.1.1.1', code: 'RAPA' }] },
    subject: { identifier: { system: 'urn:mrn', value: 'KHE-007' } },
    effectiveDateTime: '2022-04-12T07:40:00+08:00',
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

describe('following a result through its corrections (EHR feed, HTTP)', () => {
  let s: TestService;
  let subjectId: string;
  beforeAll(async () => {
    s = await startTestService();
    await s.call('/fhir/Patient/khe-007', {
      method: 'PUT',
      body: json({ resourceType: 'Patient', id: 'khe-007', identifier: [{ system: 'urn:mrn', value: 'KHE-007' }] }),
    });
    const rs = await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: json({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: 'Patient/khe-007' },
        assignedArm: 'regular-dose',
        period: { start: '2022-01-10' },
      }),
    });
    subjectId = ((await rs.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await s.stop();
  });

  const record = async (sourceId: string): Promise<Observation> =>
    (await (
      await s.call(`/fhir/Observation/${trialRecordId(`Observation/${sourceId}`, subjectId, 'sirolimus-trough')}`)
    ).json()) as Observation;
  const feedPut = (o: Observation) =>
    s.call(`/fhir/Observation/${o.id}`, { method: 'PUT', role: 'ehr-feed', body: json(o) });

  it('preliminary, final, corrected, entered-in-error: the trial record follows, as new versions', async () => {
    expect((await feedPut(trough('lab-77', 'preliminary', 11.2))).status).toBe(201);
    let r = await record('lab-77');
    expect(r.status).toBe('preliminary');
    expect(r.valueQuantity?.value).toBe(11.2);
    expect(r.meta?.versionId).toBe('1');

    expect((await feedPut(trough('lab-77', 'final', 11.2))).status).toBe(200);
    r = await record('lab-77');
    expect([r.status, r.meta?.versionId]).toEqual(['final', '2']);

    // Corrected in nmol/L: the record's value is converted again.
    expect((await feedPut(trough('lab-77', 'corrected', 13.1, 'nmol/L'))).status).toBe(200);
    r = await record('lab-77');
    expect(r.status).toBe('corrected');
    expect(r.valueQuantity?.value).toBeCloseTo(11.9756, 3);
    expect(r.meta?.versionId).toBe('3');

    // The same correction again changes nothing.
    expect((await feedPut(trough('lab-77', 'corrected', 13.1, 'nmol/L'))).status).toBe(200);
    expect((await record('lab-77')).meta?.versionId).toBe('3');

    expect((await feedPut(trough('lab-77', 'entered-in-error', 13.1, 'nmol/L'))).status).toBe(200);
    r = await record('lab-77');
    expect(r.status).toBe('entered-in-error');
    const history = (await (await s.call(`/fhir/Observation/${r.id}/_history`)).json()) as Bundle;
    expect(history.total).toBe(4);
  });

  it('finds trial records by study, subject, measure, visit and date', async () => {
    await feedPut(trough('lab-78', 'final', 12.4));
    const q = async (query: string) =>
      ((await (await s.call(`/fhir/Observation?_tag=${TAG}&${query}`)).json()) as Bundle).total;
    expect(await q('study=ResearchStudy/nct04775173')).toBe(2);
    expect(await q('code=http://loinc.org|29247-4')).toBe(2);
    expect(await q(`research-subject=ResearchSubject/${subjectId}&visit=month-3`)).toBe(2);
    // The sample's local day in Chengdu (+08:00); a date without a zone is read as a UTC day.
    expect(await q('patient=khe-007&date=ge2022-04-12T00:00:00%2B08:00&date=lt2022-04-13T00:00:00%2B08:00')).toBe(2);
    expect(await q('patient=khe-007&date=2022-04-11')).toBe(2);
    expect(await q('visit=month-6')).toBe(0);
  });

  it('refuses a unit that cannot be converted with 422, and stores nothing of that request', async () => {
    const before = ((await (await s.call('/fhir/Observation?_summary=count')).json()) as Bundle).total;
    const res = await s.call('/fhir/Observation', {
      method: 'POST',
      role: 'ehr-feed',
      body: json({ ...trough('lab-79', 'final', 5, 'mg'), id: undefined }),
    });
    expect(res.status).toBe(422);
    const oo = (await res.json()) as OperationOutcome;
    expect(oo.issue?.[0]?.details?.text).toMatch(
      /MAPPING_UNIT_INCOMPATIBLE: unit "mg" cannot be converted to ng\/mL for Sirolimus/,
    );
    const after = ((await (await s.call('/fhir/Observation?_summary=count')).json()) as Bundle).total;
    expect(after).toBe(before);
  });

  it('answers a re-sent POST (same identifier) idempotently, applies a newer version, ignores an older one', async () => {
    const post = (o: Observation) => {
      const { id: _id, ...body } = o;
      return s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: json(body) });
    };
    const v1 = { ...trough('lab-90', 'final', 9.1), issued: '2022-04-12T10:00:00+08:00' };
    const first = await post(v1);
    expect(first.status).toBe(201);
    const location = first.headers.get('location') ?? '';
    const sourceId = location.split('/Observation/')[1]?.split('/')[0] as string;
    const again = await post(v1);
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).toBe('W/"1"');

    const v2 = { ...trough('lab-90', 'corrected', 9.6), issued: '2022-04-12T12:00:00+08:00' };
    const corrected = await post(v2);
    expect(corrected.status).toBe(200);
    expect(corrected.headers.get('etag')).toBe('W/"2"');
    // The first version, delayed and retried, arrives last: it must not win.
    const late = await post(v1);
    expect(late.status).toBe(200);
    expect(late.headers.get('etag')).toBe('W/"2"');
    const r = await record(sourceId);
    expect([r.status, r.valueQuantity?.value]).toEqual(['corrected', 9.6]);

    const sources = (await (
      await s.call(`/fhir/Observation?identifier=urn:oid:1.2.156.112606.1.2.1|lab-90&_summary=count`)
    ).json()) as Bundle;
    expect(sources.total).toBe(1);
    const metrics = await (await s.call('/metrics')).text();
    expect(
      Number(/khe_ingest_results_total\{outcome="duplicate",resource_type="Observation"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(2);
  });

  it('marks the subject for outcome recomputation in the same transaction as the change', async () => {
    const marks = await s.testDb.db.query<{ research_subject_id: string; n: string }>(
      'SELECT research_subject_id, count(*)::text AS n FROM outcome_marks GROUP BY research_subject_id',
    );
    expect(marks.rows.map((m) => m.research_subject_id)).toEqual([subjectId]);
    expect(Number(marks.rows[0]?.n)).toBeGreaterThanOrEqual(6);
  });

  it('treats a re-sent transaction as repeats and corrections, not new results', async () => {
    const tx = (value: number, issued: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: ['tx-1', 'tx-2'].map((id) => {
        const { id: _id, ...o } = { ...trough(id, 'final', value), issued };
        return {
          fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${id.slice(-1)}`,
          resource: o,
          request: { method: 'POST', url: 'Observation' },
        };
      }),
    });
    const send = async (b: unknown) =>
      (await (await s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: json(b) })).json()) as Bundle;
    expect((await send(tx(8.5, '2022-04-12T10:00:00Z'))).entry?.map((e) => e.response?.status)).toEqual([
      '201 Created',
      '201 Created',
    ]);
    expect((await send(tx(8.5, '2022-04-12T10:00:00Z'))).entry?.map((e) => e.response?.etag)).toEqual([
      'W/"1"',
      'W/"1"',
    ]);
    expect((await send(tx(8.9, '2022-04-12T11:00:00Z'))).entry?.map((e) => e.response?.etag)).toEqual([
      'W/"2"',
      'W/"2"',
    ]);
    const total = (await (
      await s.call(
        `/fhir/Observation?identifier=urn:oid:1.2.156.112606.1.2.1|tx-1,urn:oid:1.2.156.112606.1.2.1|tx-2&_summary=count`,
      )
    ).json()) as Bundle;
    expect(total.total).toBe(2);
  });
});
