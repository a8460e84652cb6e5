// Fixtures WRITTEN FOR THE TESTS (invented children and platelet counts; no real patient data).
import type { Bundle, Observation, OperationOutcome, QuestionnaireResponse } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../support/enroll.ts';
import { pedsqlInfantResponse } from '../support/questionnaire-responses.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const json = (r: unknown) => JSON.stringify(r);

function platelets(patient: string, lab: string, code = '777-3', system = 'http://loinc.org'): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: 'urn:test:lab', value: lab }],
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: '2022-02-09T08:00:00+08:00',
    valueQuantity: { value: 90, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
  };
}

describe('a correction that takes a stored result out of the trial', () => {
  let s: TestService;
  let subjectId: string;
  beforeAll(async () => {
    s = await startTestService();
    subjectId = await enroll(s, 'wd-a', { birthDate: '2019-03-01', start: '2022-01-10' });
  });
  afterAll(async () => {
    await s.stop();
  });

  const feed = (path: string, method: string, body: unknown) =>
    s.call(path, { method, role: 'ehr-feed', body: json(body) });
  const trialRecordsOf = async (sourceRef: string) =>
    ((await (await s.call(`/fhir/Observation?derived-from=${sourceRef}`)).json()) as Bundle<Observation>).entry?.map(
      (e) => e.resource as Observation,
    ) ?? [];
  const pendingMarks = async () =>
    ((await (await s.call('/admin/outcomes')).json()) as { pendingMarks: number }).pendingMarks;

  it('withdraws a result the EHR moves to a patient who is not enrolled (PUT, its own id)', async () => {
    expect((await feed('/fhir/Observation/wd-1', 'PUT', { ...platelets('wd-a', 'L-1'), id: 'wd-1' })).status).toBe(201);
    await s.service.outcomes.drain();
    expect((await trialRecordsOf('Observation/wd-1')).map((o) => o.status)).toEqual(['final']);

    const moved = await feed('/fhir/Observation/wd-1', 'PUT', { ...platelets('not-enrolled-b', 'L-1'), id: 'wd-1' });
    expect(moved.status).toBe(200);
    const outcome = (await moved.json()) as OperationOutcome;
    expect(outcome.id).toBe('withdrawn');
    expect(outcome.issue[0]?.severity).toBe('information');
    expect(outcome.issue[0]?.details?.text).toContain('Observation/wd-1 is withdrawn from the trial');
    // Not retained: the corrected version (another patient's) is not stored; the record is retracted.
    expect((await s.call('/fhir/Observation/wd-1')).status).toBe(410);
    const history = (await (await s.call('/fhir/Observation/wd-1/_history')).json()) as Bundle<Observation>;
    expect(history.entry?.map((e) => e.resource?.subject?.reference ?? 'deleted')).toEqual(['deleted', 'Patient/wd-a']);
    expect((await trialRecordsOf('Observation/wd-1')).map((o) => [o.status, o.meta?.versionId])).toEqual([
      ['entered-in-error', '2'],
    ]);
    expect(await pendingMarks()).toBe(1);
    await s.service.outcomes.drain();

    // Sent again, it is simply not retained: nothing is stored under that id any more.
    const again = await feed('/fhir/Observation/wd-1', 'PUT', { ...platelets('not-enrolled-b', 'L-1'), id: 'wd-1' });
    expect(again.status).toBe(202);
    expect(((await again.json()) as OperationOutcome).id).toBe('not-retained');
  });

  it('withdraws a POSTed result re-delivered with the same identifier for another patient', async () => {
    const created = await feed('/fhir/Observation', 'POST', platelets('wd-a', 'L-2'));
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const moved = await feed('/fhir/Observation', 'POST', platelets('not-enrolled-b', 'L-2'));
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as OperationOutcome).id).toBe('withdrawn');
    expect((await s.call(`/fhir/Observation/${id}`)).status).toBe(410);
    expect((await trialRecordsOf(`Observation/${id}`)).map((o) => o.status)).toEqual(['entered-in-error']);
  });

  it('withdraws a result whose code is corrected to one no measure uses', async () => {
    expect((await feed('/fhir/Observation/wd-3', 'PUT', { ...platelets('wd-a', 'L-3'), id: 'wd-3' })).status).toBe(201);
    // 2345-7 (glucose) is measured by no study measure.
    const recoded = await feed('/fhir/Observation/wd-3', 'PUT', { ...platelets('wd-a', 'L-3', '2345-7'), id: 'wd-3' });
    expect(recoded.status).toBe(200);
    expect((await trialRecordsOf('Observation/wd-3')).map((o) => o.status)).toEqual(['entered-in-error']);
  });

  it('keeps the stored result when the correction only uses a site code not mapped yet (dead letter)', async () => {
    expect((await feed('/fhir/Observation/wd-4', 'PUT', { ...platelets('wd-a', 'L-4'), id: 'wd-4' })).status).toBe(201);
    const unmapped = await feed('/fhir/Observation/wd-4', 'PUT', {
      ...platelets('wd-a', 'L-4', 'NOT-MAPPED-YET', 'urn:oid:1.2.156.112606.1.1.1'),
      id: 'wd-4',
    });
    expect(unmapped.status).toBe(202);
    expect((await s.call('/fhir/Observation/wd-4')).status).toBe(200);
    expect((await trialRecordsOf('Observation/wd-4')).map((o) => o.status)).toEqual(['final']);
  });

  it('withdraws inside a batch and a transaction, one lookup per Bundle, next to plain not-retained entries', async () => {
    for (const lab of ['L-5', 'L-6'])
      expect((await feed('/fhir/Observation', 'POST', platelets('wd-a', lab))).status).toBe(201);
    const entry = (o: Observation) => ({ resource: o, request: { method: 'POST', url: 'Observation' } });
    const batch = await feed('/fhir', 'POST', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [entry(platelets('not-enrolled-b', 'L-5')), entry(platelets('not-enrolled-c', 'never-stored'))],
    });
    expect(batch.status).toBe(200);
    const b = (await batch.json()) as Bundle;
    expect(
      b.entry?.map((e) => [e.response?.status, (e.response?.outcome as OperationOutcome | undefined)?.id]),
    ).toEqual([
      ['200 OK', 'withdrawn'],
      ['202 Accepted', 'not-retained'],
    ]);
    const tx = await feed('/fhir', 'POST', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [entry(platelets('not-enrolled-b', 'L-6')), entry(platelets('not-enrolled-c', 'never-stored-2'))],
    });
    expect(tx.status).toBe(200);
    const t = (await tx.json()) as Bundle;
    expect(
      t.entry?.map((e) => [e.response?.status, (e.response?.outcome as OperationOutcome | undefined)?.id]),
    ).toEqual([
      ['200 OK', 'withdrawn'],
      ['202 Accepted', 'not-retained'],
    ]);
    // Stored and moved away within one batch: the second entry sees what the first stored.
    const both = await feed('/fhir', 'POST', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [entry(platelets('wd-a', 'L-7')), entry(platelets('not-enrolled-b', 'L-7'))],
    });
    const bb = (await both.json()) as Bundle;
    expect(
      bb.entry?.map((e) => [e.response?.status, (e.response?.outcome as OperationOutcome | undefined)?.id]),
    ).toEqual([
      ['201 Created', undefined],
      ['200 OK', 'withdrawn'],
    ]);
    const l6 = (await (await s.call('/fhir/Observation?identifier=urn:test:lab|L-6')).json()) as Bundle;
    expect(l6.entry ?? []).toEqual([]);
    expect(subjectId).toBeTruthy();
  });

  it('withdraws an adverse event moved to another patient: its trial record is deleted (R4 AdverseEvent has no status)', async () => {
    const ae = (patient: string) => ({
      resourceType: 'AdverseEvent',
      id: 'wd-ae-1',
      actuality: 'actual',
      event: { coding: [{ system: 'https://www.meddra.org', code: '10028130', display: 'Mucositis oral' }] },
      subject: { reference: `Patient/${patient}` },
      date: '2022-02-01',
    });
    const trialAes = async () =>
      (
        (await (
          await s.call(
            '/fhir/AdverseEvent?subject=Patient/wd-a&_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record',
          )
        ).json()) as Bundle
      ).entry ?? [];
    expect((await feed('/fhir/AdverseEvent/wd-ae-1', 'PUT', ae('wd-a'))).status).toBe(201);
    expect(await trialAes()).toHaveLength(1);
    const moved = await feed('/fhir/AdverseEvent/wd-ae-1', 'PUT', ae('not-enrolled-b'));
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as OperationOutcome).id).toBe('withdrawn');
    expect(await trialAes()).toHaveLength(0);
    expect((await s.call('/fhir/AdverseEvent/wd-ae-1')).status).toBe(410);
  });

  it('withdraws a questionnaire response moved to another patient: its trial record is entered-in-error', async () => {
    const qr = (patient: string) => pedsqlInfantResponse('wd-qr-1', patient);
    const trialResponses = async () =>
      (
        (await (
          await s.call(
            '/fhir/QuestionnaireResponse?subject=Patient/wd-a&_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record',
          )
        ).json()) as Bundle<QuestionnaireResponse>
      ).entry?.map((e) => (e.resource as QuestionnaireResponse).status) ?? [];
    expect((await feed('/fhir/QuestionnaireResponse/wd-qr-1', 'PUT', qr('wd-a'))).status).toBe(201);
    expect(await trialResponses()).toEqual(['completed']);
    const moved = await feed('/fhir/QuestionnaireResponse/wd-qr-1', 'PUT', qr('not-enrolled-b'));
    expect(moved.status).toBe(200);
    expect(await trialResponses()).toEqual(['entered-in-error']);
  });

  it('retracts the trial records of a source an admin DELETEs, alone or in a transaction', async () => {
    expect(
      (await feed('/fhir/Observation/wd-del-1', 'PUT', { ...platelets('wd-a', 'L-D1'), id: 'wd-del-1' })).status,
    ).toBe(201);
    expect(
      (await feed('/fhir/Observation/wd-del-2', 'PUT', { ...platelets('wd-a', 'L-D2'), id: 'wd-del-2' })).status,
    ).toBe(201);
    await s.service.outcomes.drain();
    expect(await pendingMarks()).toBe(0);

    expect((await s.call('/fhir/Observation/wd-del-1', { method: 'DELETE' })).status).toBe(204);
    expect((await trialRecordsOf('Observation/wd-del-1')).map((o) => [o.status, o.meta?.versionId])).toEqual([
      ['entered-in-error', '2'],
    ]);
    expect(await pendingMarks()).toBe(1);
    // Deleting again changes nothing: no new version, no new mark.
    await s.service.outcomes.drain();
    expect((await s.call('/fhir/Observation/wd-del-1', { method: 'DELETE' })).status).toBe(204);
    expect((await trialRecordsOf('Observation/wd-del-1')).map((o) => o.meta?.versionId)).toEqual(['2']);
    expect(await pendingMarks()).toBe(0);

    const tx = await s.call('/fhir', {
      method: 'POST',
      body: json({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ request: { method: 'DELETE', url: 'Observation/wd-del-2' } }],
      }),
    });
    expect(tx.status).toBe(200);
    expect((await trialRecordsOf('Observation/wd-del-2')).map((o) => o.status)).toEqual(['entered-in-error']);
    expect(await pendingMarks()).toBe(1);
    await s.service.outcomes.drain();
  });

  it('deletes a result the trial never kept without retracting anything; a trial record itself is the service’s (403)', async () => {
    const other = await s.call('/fhir/Observation/wd-del-3', {
      method: 'PUT',
      body: json({ ...platelets('not-enrolled-b', 'L-D3'), id: 'wd-del-3' }),
    });
    expect(other.status).toBe(201);
    expect((await s.call('/fhir/Observation/wd-del-3', { method: 'DELETE' })).status).toBe(204);
    expect(await pendingMarks()).toBe(0);

    expect(
      (await feed('/fhir/Observation/wd-del-4', 'PUT', { ...platelets('wd-a', 'L-D4'), id: 'wd-del-4' })).status,
    ).toBe(201);
    await s.service.outcomes.drain();
    const [record] = await trialRecordsOf('Observation/wd-del-4');
    expect((await s.call(`/fhir/Observation/${record?.id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await s.call(`/fhir/Observation/${record?.id}`)).status).toBe(200);
    expect((await s.call('/fhir/Observation/wd-del-4')).status).toBe(200);
  });

  it('carries an admin PUT of a kept source into its trial record, as a feed correction would', async () => {
    expect(
      (await feed('/fhir/Observation/wd-put-1', 'PUT', { ...platelets('wd-a', 'L-P1'), id: 'wd-put-1' })).status,
    ).toBe(201);
    await s.service.outcomes.drain();
    const corrected = platelets('wd-a', 'L-P1');
    corrected.status = 'amended';
    corrected.valueQuantity = { value: 120, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' };
    const put = await s.call('/fhir/Observation/wd-put-1', {
      method: 'PUT',
      body: json({ ...corrected, id: 'wd-put-1' }),
    });
    expect(put.status).toBe(200);
    const [record] = await trialRecordsOf('Observation/wd-put-1');
    expect([record?.status, record?.valueQuantity?.value, record?.meta?.versionId]).toEqual(['amended', 120, '2']);
    expect(await pendingMarks()).toBe(1);
    await s.service.outcomes.drain();

    // The same content again changes nothing; an admin moving it to a patient not enrolled withdraws it.
    expect(
      (await s.call('/fhir/Observation/wd-put-1', { method: 'PUT', body: json({ ...corrected, id: 'wd-put-1' }) }))
        .status,
    ).toBe(200);
    expect(await pendingMarks()).toBe(0);
    const moved = await s.call('/fhir/Observation/wd-put-1', {
      method: 'PUT',
      body: json({ ...corrected, subject: { reference: 'Patient/not-enrolled-b' }, id: 'wd-put-1' }),
    });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as OperationOutcome).id).toBe('withdrawn');
    expect((await s.call('/fhir/Observation/wd-put-1')).status).toBe(410);
    expect((await trialRecordsOf('Observation/wd-put-1')).map((o) => [o.status, o.meta?.versionId])).toEqual([
      ['entered-in-error', '3'],
    ]);
    expect(await pendingMarks()).toBe(1);
    await s.service.outcomes.drain();
  });

  it('keeps an admin PUT of a result the trial never kept a plain update, and refuses one of a trial record', async () => {
    const other = { ...platelets('wd-a', 'L-P2'), id: 'wd-put-2' };
    // Written by an admin first: never routed, so never kept.
    expect((await s.call('/fhir/Observation/wd-put-2', { method: 'PUT', body: json(other) })).status).toBe(201);
    expect(
      (await s.call('/fhir/Observation/wd-put-2', { method: 'PUT', body: json({ ...other, status: 'amended' }) }))
        .status,
    ).toBe(200);
    expect(await trialRecordsOf('Observation/wd-put-2')).toEqual([]);
    expect(await pendingMarks()).toBe(0);

    expect(
      (await feed('/fhir/Observation/wd-put-3', 'PUT', { ...platelets('wd-a', 'L-P3'), id: 'wd-put-3' })).status,
    ).toBe(201);
    await s.service.outcomes.drain();
    const [record] = await trialRecordsOf('Observation/wd-put-3');
    const note = { ...record, note: [{ text: 'checked against the lab report' }] };
    // A trial record is derived data, the service's alone (issue 17).
    expect((await s.call(`/fhir/Observation/${record?.id}`, { method: 'PUT', body: json(note) })).status).toBe(403);
    const [after] = await trialRecordsOf('Observation/wd-put-3');
    expect([after?.meta?.versionId, after?.note]).toEqual(['1', undefined]);
    // The source is untouched, and no record was derived from the record itself.
    const source = (await (await s.call('/fhir/Observation/wd-put-3')).json()) as Observation;
    expect(source.meta?.versionId).toBe('1');
    expect((await trialRecordsOf('Observation/wd-put-3')).length).toBe(1);
  });
});
