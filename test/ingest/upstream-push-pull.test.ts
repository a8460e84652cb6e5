// One result, pushed by the EHR under its accession number and pulled under the EHR's own id, in
// both orders, against a real FHIR server in-process that pages its searchsets (next links):
// one trial record, the subject's cursor moves on, later results are pulled. A pulled result that
// fails is dead-lettered and the cursor still moves past it.
// Fixtures WRITTEN FOR THE TESTS: a patient and sirolimus troughs held by the EHR.
import { randomBytes } from 'node:crypto';
import type { Bundle, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamPull } from '../../src/ingest/upstream-pull.ts';
import { enroll } from '../support/enroll.ts';
import { type FhirUpstream, startFhirUpstream } from '../support/fhir-upstream.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const TAG = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';
const ACCESSION = 'urn:oid:2.16.840.1.113883.3.9999.accession';
const TROUGH = 'http://loinc.org|29247-4';

function trough(patient: string, accession: string, day: string, value: number): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: ACCESSION, value: accession }],
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: `${day}T08:00:00+08:00`,
    valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
  };
}

describe('push and pull of the same result', () => {
  let up: FhirUpstream;
  let s: TestService;
  let pull: UpstreamPull;
  let patient: string;
  let subject: string;

  const search = async <T extends Observation>(query: string): Promise<T[]> => {
    const res = await s.call(`/fhir/Observation?${query}&_count=100`);
    expect(res.status).toBe(200);
    return ((await res.json()) as Bundle<T>).entry?.map((e) => e.resource as T) ?? [];
  };
  /** The sources held for an accession number (not the trial records derived from them). */
  const sources = async (accession: string) =>
    (await search(`identifier=${encodeURIComponent(`${ACCESSION}|${accession}`)}`)).filter(
      (o) => !o.meta?.tag?.some((t) => `${t.system}|${t.code}` === TAG),
    );
  const records = async () =>
    (await search(`_tag=${TAG}&code=${encodeURIComponent(TROUGH)}&research-subject=ResearchSubject/${subject}`)).length;
  const push = async (o: Observation) =>
    s.call('/fhir/Observation', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(o) });
  /** The `_lastUpdated` the next pull asks upstream from: where the subject's cursor stands. */
  const cursorAsked = async (): Promise<string | null> => {
    up.requests.length = 0;
    await pull.pullAll();
    const first = up.requests.find((r) => r.url.startsWith('/Observation?'));
    return first ? new URL(`http://x${first.url}`).searchParams.get('_lastUpdated') : null;
  };

  beforeAll(async () => {
    up = await startFhirUpstream();
    s = await startTestService({
      UPSTREAM_FHIR_URL: up.base,
      UPSTREAM_AUTH: 'bearer',
      UPSTREAM_BEARER_TOKEN: up.token,
      UPSTREAM_PULL_PAGE_SIZE: '2',
      JOB_SCHEDULES: JSON.stringify({ 'outbox-delivery': 'off', 'upstream-pull': 'off', 'upstream-backfill': 'off' }),
    });
    const p = await up.create<Patient>({ resourceType: 'Patient', birthDate: '2021-05-01', gender: 'female' });
    patient = p.id as string;
    subject = await enroll(s, patient, { birthDate: '2021-05-01', start: '2022-01-10' });
    const wired = s.service.upstream.pull;
    if (!wired) throw new Error('pull not wired');
    pull = wired;
    // Nothing to pull yet: the cursor starts.
    expect(await pull.pullAll()).toMatchObject({ subjects: 1, errors: [] });
  });
  afterAll(async () => {
    await s.stop();
    await up.close();
  });

  it('push then pull: the pulled copy updates the pushed record, the cursor moves on, later results are pulled', async () => {
    const result = trough(patient, 'ACC-1', '2022-01-25', 7.5);
    const pushed = await push(result);
    expect(pushed.status).toBe(201);
    const pushedId = ((await pushed.json()) as Observation).id as string;
    // The EHR holds it under its own id, and two more results land after it (pages of 2).
    const held = await up.create(result);
    expect(held.id).not.toBe(pushedId);
    await up.create(trough(patient, 'ACC-2', '2022-02-10', 8.1));
    await up.create(trough(patient, 'ACC-3', '2022-03-10', 9.2));

    const summary = await pull.pullAll();
    expect(summary).toMatchObject({ subjects: 1, fed: 3, refused: 0, deadLettered: [], errors: [] });
    expect((await sources('ACC-1')).map((o) => o.id)).toEqual([pushedId]);
    expect(await records()).toBe(3);

    // The cursor moved: the next pull asks from the newest upstream result on, and feeds nothing.
    const newest = (await up.repo.searchResources<Observation>({ resourceType: 'Observation' }))
      .map((o) => o.meta?.lastUpdated as string)
      .reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
    expect(await cursorAsked()).toBe(`ge${newest}`);
    expect(await records()).toBe(3);
  });

  it('pull then push: the pushed copy updates the pulled record', async () => {
    const result = trough(patient, 'ACC-4', '2022-04-10', 6.4);
    const held = await up.create(result);
    expect(await pull.pullAll()).toMatchObject({ fed: 1, refused: 0, errors: [] });
    const pushed = await push(result);
    expect(pushed.status).toBe(200);
    expect((await sources('ACC-4')).map((o) => o.id)).toEqual([held.id]);
    expect(await records()).toBe(4);
    // Corrected in the EHR afterwards: the pull carries the correction into the same record.
    await up.repo.updateResource<Observation>({
      ...held,
      status: 'amended',
      valueQuantity: { ...result.valueQuantity, value: 6.9 },
    });
    expect(await pull.pullAll()).toMatchObject({ fed: 1, refused: 0, errors: [] });
    const [again] = await sources('ACC-4');
    expect(again?.valueQuantity?.value).toBe(6.9);
    expect(await records()).toBe(4);
  });

  it('a PUT giving another id an identifier already held answers 409 naming the holder', async () => {
    const [holder] = await sources('ACC-1');
    const res = await s.call('/fhir/Observation/some-other-id', {
      method: 'PUT',
      role: 'ehr-feed',
      body: JSON.stringify({ ...trough(patient, 'ACC-1', '2022-01-25', 7.5), id: 'some-other-id' }),
    });
    expect(res.status).toBe(409);
    const outcome = (await res.json()) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue?.[0]?.details?.text).toContain(`Observation/${holder?.id}`);
    expect(outcome.issue?.[0]?.expression).toEqual(['Observation.identifier']);
    expect(await s.call('/fhir/Observation/some-other-id')).toHaveProperty('status', 404);
    // As an admin too: it is the engine's rule, not the feed's.
    const admin = await s.call('/fhir/Observation/another-id', {
      method: 'PUT',
      body: JSON.stringify({ ...trough(patient, 'ACC-1', '2022-01-25', 7.5), id: 'another-id' }),
    });
    expect(admin.status).toBe(409);
    // Re-sent to the holder's own id it is an ordinary update.
    const same = await s.call(`/fhir/Observation/${holder?.id}`, {
      method: 'PUT',
      role: 'ehr-feed',
      body: JSON.stringify({ ...trough(patient, 'ACC-1', '2022-01-25', 7.5), id: holder?.id }),
    });
    expect(same.status).toBe(200);
  });

  it('a pulled result that fails is dead-lettered and the cursor moves past it', async () => {
    // A fibrinogen of 50 g/L cannot be (refused, 422); an identifier longer than any index entry
    // fails in the store itself (not an OperationOutcome): neither stops the subject's pull.
    const impossible: Observation = {
      ...trough(patient, 'ACC-5', '2022-05-10', 5000),
      code: { coding: [{ system: 'http://loinc.org', code: '3255-7' }] },
      valueQuantity: { value: 5000, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    };
    const bad = await up.create(impossible);
    const huge = await up.create(trough(patient, randomBytes(6000).toString('base64'), '2022-05-20', 7));
    const later = await up.create(trough(patient, 'ACC-6', '2022-06-10', 8.8));

    const summary = await pull.pullAll();
    expect(summary).toMatchObject({ fed: 3, refused: 2, errors: [] });
    expect(summary.deadLettered).toHaveLength(2);
    expect((await sources('ACC-6')).map((o) => o.id)).toEqual([later.id]);
    expect(await records()).toBe(5);

    const letters = (await (await s.call('/admin/dead-letters?status=open')).json()) as {
      deadLetters: { id: string; content: string; reason: string }[];
    };
    const held = letters.deadLetters.filter((l) => summary.deadLettered.includes(l.id));
    expect(held.map((l) => (JSON.parse(l.content) as Observation).id).sort()).toEqual([bad.id, huge.id].sort());
    expect(held.find((l) => l.content.includes(bad.id as string))?.reason).toContain('422');
    expect(held.find((l) => l.content.includes(huge.id as string))?.reason).toContain('500');
    // The cursor is past all three.
    expect(await cursorAsked()).toBe(`ge${later.meta?.lastUpdated}`);
  });
});
