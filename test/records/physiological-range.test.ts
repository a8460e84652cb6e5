// Fixtures WRITTEN FOR THE TESTS: results no patient can have (negative counts and volumes).
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { type StudyDefinition, StudyDefinitionSchema, type StudyMeasure } from '../../src/mapping/study-definition.ts';
import { outsidePhysiologicalRange } from '../../src/records/physiological-range.ts';
import { enroll } from '../support/enroll.ts';
import { oru, PLT } from '../support/hl7-messages.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const TAG = 'https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record';

describe('physiological ranges declared per measure', () => {
  let study: StudyDefinition;
  const measure = (id: string): StudyMeasure => study.measures.find((m) => m.id === id) as StudyMeasure;
  beforeAll(async () => {
    study = (await loadStudyDefinitions())[0] as StudyDefinition;
  });

  it('names the measure of a value outside its range, in the canonical unit; both ends inclusive', () => {
    expect(outsidePhysiologicalRange(-1, measure('platelets'))).toMatch(/^platelets -1 10\*9\/L is below 0/);
    expect(outsidePhysiologicalRange(-0.5, measure('lesion-volume'))).toMatch(/^lesion-volume/);
    expect(outsidePhysiologicalRange(0, measure('platelets'))).toBeUndefined();
    expect(outsidePhysiologicalRange(45, measure('platelets'))).toBeUndefined();
    expect(outsidePhysiologicalRange(2_000_000, measure('lesion-volume'))).toBeUndefined();
    expect(outsidePhysiologicalRange(20_000, measure('platelets'))).toMatch(/is above 10000/);
  });

  it('is optional in study.json, and a range whose low is not below its high is refused', () => {
    const { physiologicalRange: _, ...without } = measure('platelets');
    expect(outsidePhysiologicalRange(-5, without)).toBeUndefined();
    const raw = structuredClone(study) as unknown as { measures: Record<string, unknown>[] };
    (raw.measures[1] as Record<string, unknown>).physiologicalRange = { low: 5, high: 1 };
    expect(StudyDefinitionSchema.safeParse(raw).success).toBe(false);
  });
});

describe('an impossible result is refused wherever the ingest maps it to a measure', () => {
  let s: TestService;
  const json = (r: unknown) => JSON.stringify(r);
  const count = async () =>
    ((await (await s.call(`/fhir/Observation?_tag=${TAG}&_summary=count`)).json()) as Bundle).total;
  const platelets = (id: string, value: number, unit = '10*9/L'): Observation => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
    subject: { reference: 'Patient/khe-phys' },
    effectiveDateTime: '2022-04-12T07:40:00+08:00',
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  });
  const volume = (id: string, value: number): Observation => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '118565006' }] },
    method: { coding: [{ system: 'http://snomed.info/sct', code: '113091000' }] },
    subject: { reference: 'Patient/khe-phys' },
    effectiveDateTime: '2022-04-12T07:40:00+08:00',
    valueQuantity: { value, unit: 'mL', system: 'http://unitsofmeasure.org', code: 'mL' },
  });
  const put = (o: Observation) =>
    s.call(`/fhir/Observation/${o.id}`, { method: 'PUT', role: 'ehr-feed', body: json(o) });

  beforeAll(async () => {
    s = await startTestService();
    await enroll(s, 'khe-phys', {
      start: '2022-01-10',
      identifier: { system: 'urn:oid:1.2.156.112606.1.2.2', value: 'KHE-PHYS' },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it.each([
    ['a negative platelet count', platelets('phys-1', -45), 'platelets'],
    ['a negative lesion volume', volume('phys-2', -3.5), 'lesion-volume'],
    // 20 000 000 per uL is 20 000 x10^9/L: outside only once converted to the canonical unit.
    ['a platelet count impossible after unit conversion', platelets('phys-3', 20_000_000, '/uL'), 'platelets'],
  ])('FHIR push: %s is 422 naming the measure, and nothing is stored', async (_n, obs, id) => {
    const before = await count();
    const res = await put(obs);
    expect(res.status).toBe(422);
    const oo = (await res.json()) as OperationOutcome;
    expect(oo.issue?.[0]?.details?.text).toMatch(new RegExp(`MAPPING_VALUE_IMPOSSIBLE: .*${id}`));
    expect((await s.call(`/fhir/Observation/${obs.id}`)).status).toBe(404);
    expect(await count()).toBe(before);
  });

  it('FHIR push: a possible value is still accepted, and a retraction is accepted whatever it carries', async () => {
    expect((await put(platelets('phys-ok', 45))).status).toBe(201);
    expect((await put({ ...platelets('phys-ok', -1), status: 'entered-in-error' })).status).toBe(200);
  });

  it('transaction Bundle: an impossible entry fails the whole transaction with 422', async () => {
    const before = await count();
    const entry = (o: Observation) => ({ resource: o, request: { method: 'PUT', url: `Observation/${o.id}` } });
    const res = await s.call('/fhir', {
      method: 'POST',
      role: 'ehr-feed',
      body: json({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [entry(platelets('phys-4', 50)), entry(volume('phys-5', -1))],
      }),
    });
    expect(res.status).toBe(422);
    expect(JSON.stringify(await res.json())).toMatch(/MAPPING_VALUE_IMPOSSIBLE: .*lesion-volume/);
    expect(await count()).toBe(before);
    expect((await s.call('/fhir/Observation/phys-4')).status).toBe(404);
  });

  it('HL7 v2: a negative platelet count is AE naming OBX-5, and nothing is stored', async () => {
    const before = await count();
    const res = await s.call('/hl7v2', {
      method: 'POST',
      role: 'ehr-feed',
      headers: { 'content-type': 'x-application/hl7-v2+er7' },
      body: oru('PHYS0001', [PLT('-45')], { mrn: 'KHE-PHYS', filler: 'FILPHYS' }),
    });
    const ack = await res.text();
    const seg = (name: string) => ack.split(/\r\n|\r|\n/).filter((l) => l.startsWith(`${name}|`));
    expect(seg('MSA')[0]?.split('|')[1]).toBe('AE');
    expect(seg('ERR').join('\n')).toContain('OBX^1^5');
    expect(seg('ERR').join('\n')).toMatch(/platelets/);
    expect(await count()).toBe(before);
  });
});
