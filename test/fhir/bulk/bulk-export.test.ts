import type {
  CapabilityStatement,
  Observation,
  OperationOutcome,
  Patient,
  ResearchSubject,
  Resource,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAsService } from '../../support/service-write.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';
import { ASYNC, download, kickoff, pathOf, sleep, waitForManifest } from './bulk-helpers.ts';

// Written for the tests: two enrolled patients, one not enrolled, labs and a sirolimus trough.
const json = (r: unknown) => JSON.stringify(r);
const obs = (patient: string, code: string, value: number, unit: string) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
});

describe('Bulk Data $export', () => {
  let s: TestService;
  const put = async (r: Resource & { id: string }) => {
    const res = await s.call(`/fhir/${r.resourceType}/${r.id}`, { method: 'PUT', body: json(r) });
    expect(res.status).toBeLessThan(300);
  };
  const post = async (r: Resource) => {
    const res = await s.call(`/fhir/${r.resourceType}`, { method: 'POST', body: json(r) });
    expect(res.status).toBe(201);
    return (await res.json()) as Resource;
  };

  beforeAll(async () => {
    s = await startTestService({ BULK_EXPORT_MIN_POLL_MS: '100', BULK_EXPORT_BATCH_SIZE: '3' });
    for (const p of ['bx-1', 'bx-2', 'bx-3']) await put({ resourceType: 'Patient', id: p, birthDate: '2021-06-01' });
    for (const [p, arm] of [
      ['bx-1', 'low-dose'],
      ['bx-2', 'regular-dose'],
    ] as const) {
      await post({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: `Patient/${p}` },
        assignedArm: arm,
        period: { start: '2022-01-10' },
      } as ResearchSubject);
    }
    for (const p of ['bx-1', 'bx-2', 'bx-3']) {
      await post(obs(p, '777-3', 90, '10*9/L') as Resource);
      await post(obs(p, '3255-7', 1.2, 'g/L') as Resource);
    }
    await post(obs('bx-2', '29247-4', 12.5, 'ng/mL') as Resource);
  });
  afterAll(async () => {
    await s.stop();
  });

  it('is advertised in the CapabilityStatement with the canonical definitions', async () => {
    const cs = (await (await s.call('/fhir/metadata', { role: 'none' })).json()) as CapabilityStatement;
    expect(cs.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
    const ops = cs.rest?.[0]?.operation ?? [];
    for (const name of ['export', 'patient-export', 'group-export']) {
      expect(ops.find((o) => o.name === name)?.definition).toBe(
        `http://hl7.org/fhir/uv/bulkdata/OperationDefinition/${name}`,
      );
    }
    const group = cs.rest?.[0]?.resource?.find((r) => r.type === 'Group');
    expect(group?.operation?.[0]?.definition).toBe('http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export');
  });

  it('exports everything at system level: 202, polling, manifest, one NDJSON file per type with counts', async () => {
    const res = await s.call('/fhir/$export', { headers: ASYNC });
    expect(res.status).toBe(202);
    const statusUrl = res.headers.get('content-location') as string;
    expect(statusUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir\/bulkstatus\/[0-9a-f-]{36}$/);
    const manifest = await waitForManifest(s, statusUrl);
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.request).toBe(`${s.fhir}/$export`);
    expect(Date.parse(manifest.transactionTime)).toBeGreaterThan(Date.now() - 60_000);
    expect(manifest.error).toEqual([]);
    const types = manifest.output.map((o) => o.type);
    expect(new Set(types).size).toBe(types.length);
    expect(types).not.toContain('AuditEvent');
    const byType = Object.fromEntries(manifest.output.map((o) => [o.type, o]));
    expect(byType.Patient?.count).toBe(3);
    expect(byType.Observation?.count).toBe(7);
    expect(byType.ResearchSubject?.count).toBe(2);
    expect(byType.ResearchStudy?.count).toBe(1);
    const lines = await download(s, byType.Observation?.url as string);
    expect(lines).toHaveLength(7);
    const ids = new Set(lines.map((l) => (JSON.parse(l) as Resource).id));
    expect(ids.size).toBe(7);
    for (const l of lines) expect((JSON.parse(l) as Resource).resourceType).toBe('Observation');
  });

  it('accepts POST with Parameters: _type, _typeFilter and each _outputFormat spelling', async () => {
    for (const format of ['application/fhir+ndjson', 'application/ndjson', 'ndjson']) {
      const status = await kickoff(s, '/fhir/$export', {
        method: 'POST',
        body: json({
          resourceType: 'Parameters',
          parameter: [
            { name: '_outputFormat', valueString: format },
            { name: '_type', valueString: 'Observation' },
            { name: '_typeFilter', valueString: 'Observation?code=http://loinc.org|777-3' },
          ],
        }),
      });
      const manifest = await waitForManifest(s, status);
      expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Observation', 3]]);
    }
  });

  it('honours _since (only resources changed after it)', async () => {
    await sleep(20);
    const since = new Date().toISOString();
    await sleep(20);
    await put({ resourceType: 'Patient', id: 'bx-3', birthDate: '2021-07-01' });
    const status = await kickoff(s, `/fhir/$export?_since=${encodeURIComponent(since)}&_type=Patient,Observation`);
    const manifest = await waitForManifest(s, status);
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Patient', 1]]);
    const [line] = await download(s, manifest.output[0]?.url as string);
    expect(JSON.parse(line as string).birthDate).toBe('2021-07-01');
  });

  it('rejects what it cannot do with an OperationOutcome 400, unless Prefer: handling=lenient', async () => {
    const cases: [string, Record<string, string>][] = [
      ['/fhir/$export', { accept: 'application/fhir+json' }], // no Prefer: respond-async
      ['/fhir/$export?_outputFormat=text/csv', ASYNC],
      ['/fhir/$export?includeAssociatedData=LatestProvenanceResources', ASYNC],
      ['/fhir/$export?_elements=value.unit', ASYNC],
      ['/fhir/$export?_type=Nonsense', ASYNC],
      ['/fhir/$export?_since=yesterday', ASYNC],
      ['/fhir/$export?_typeFilter=Observation%3Fbogus%3D1', ASYNC],
      ['/fhir/$export?_typeFilter=Observation%3F_include%3DObservation:subject', ASYNC],
      ['/fhir/$export?_type=Patient&_typeFilter=Observation%3Fstatus%3Dfinal', ASYNC],
    ];
    for (const [path, headers] of cases) {
      const res = await s.call(path, { headers });
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    }
    const status = await kickoff(
      s,
      '/fhir/$export?includeAssociatedData=LatestProvenanceResources&_type=ResearchStudy',
      {
        headers: { prefer: 'respond-async, handling=lenient' },
      },
    );
    const manifest = await waitForManifest(s, status);
    expect(manifest.output.map((o) => o.type)).toEqual(['ResearchStudy']);
    expect(manifest.error).toHaveLength(1);
    const [note] = await download(s, manifest.error[0]?.url as string);
    const outcome = JSON.parse(note as string) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.details?.text).toContain('includeAssociatedData');
  });

  it('ignores an unsupported search parameter of a _typeFilter under Prefer: handling=lenient, listing it in the error file', async () => {
    const filter = encodeURIComponent('Observation?bogus=1&code=http://loinc.org|777-3&status:banana=final');
    const strict = await s.call(`/fhir/$export?_type=Observation&_typeFilter=${filter}`, { headers: ASYNC });
    expect(strict.status).toBe(400);
    const status = await kickoff(s, `/fhir/$export?_type=Observation&_typeFilter=${filter}`, {
      headers: { prefer: 'respond-async, handling=lenient' },
    });
    const manifest = await waitForManifest(s, status);
    // The supported parameter still filters: the three platelet counts, not all seven Observations.
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([['Observation', 3]]);
    expect(manifest.error).toHaveLength(1);
    const notes = (await download(s, manifest.error[0]?.url as string)).map((l) => JSON.parse(l) as OperationOutcome);
    expect(notes.every((n) => n.resourceType === 'OperationOutcome')).toBe(true);
    const texts = notes.map((n) => n.issue[0]?.details?.text ?? '').join('\n');
    expect(texts).toMatch(/bogus is not supported for Observation/);
    expect(texts).toMatch(/status:banana uses modifier :banana/);
    expect(texts).not.toMatch(/code /);
  });

  it('keeps only the elements _elements asks for (with the mandatory ones), tagged SUBSETTED', async () => {
    const status = await kickoff(
      s,
      '/fhir/Patient/$export?_type=Patient,Observation&_elements=Observation.value,birthDate',
    );
    const manifest = await waitForManifest(s, status);
    const byType = Object.fromEntries(manifest.output.map((o) => [o.type, o.url]));
    const observations = (await download(s, byType.Observation as string)).map((l) => JSON.parse(l) as Observation);
    expect(observations.length).toBeGreaterThan(0);
    for (const o of observations) {
      expect(Object.keys(o).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
      expect(o.meta?.tag?.map((t) => t.code)).toContain('SUBSETTED');
    }
    const patients = (await download(s, byType.Patient as string)).map((l) => JSON.parse(l) as Patient);
    expect(patients.map((p) => Object.keys(p).sort())).toContainEqual(['birthDate', 'id', 'meta', 'resourceType']);
  });

  it('limits Patient/$export to patients and what references them', async () => {
    const status = await kickoff(s, '/fhir/Patient/$export');
    const manifest = await waitForManifest(s, status);
    const types = manifest.output.map((o) => o.type);
    expect(types).toContain('Patient');
    expect(types).toContain('Observation');
    expect(types).not.toContain('ResearchStudy');
  });

  it('exports a Group: its member patients only', async () => {
    // Groups are derived by the service; a cohort of its own is stored as the service would.
    await writeAsService(s, {
      resourceType: 'Group',
      id: 'bx-group',
      type: 'person',
      actual: true,
      member: [{ entity: { reference: 'Patient/bx-1' } }, { entity: { reference: 'Patient/bx-3' }, inactive: true }],
    } as Resource & { id: string });
    const status = await kickoff(s, '/fhir/Group/bx-group/$export?_type=Patient,Observation');
    const manifest = await waitForManifest(s, status);
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', 1],
      ['Observation', 2],
    ]);
    // The derived study Group: the enrolled patients (bx-3 has no ResearchSubject).
    const study = await kickoff(s, '/fhir/Group/study-nct04775173/$export?_type=Patient,ResearchSubject');
    const derived = await waitForManifest(s, study);
    expect(derived.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', 2],
      ['ResearchSubject', 2],
    ]);
    const missing = await s.call('/fhir/Group/nope/$export', { headers: ASYNC });
    expect(missing.status).toBe(404);
  });

  it('limits a Patient or Group export to the patients a patient parameter names, reporting the others', async () => {
    const params = (...refs: string[]) =>
      json({
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Patient,Observation' },
          ...refs.map((reference) => ({ name: 'patient', valueReference: { reference } })),
        ],
      });
    const level = await kickoff(s, '/fhir/Patient/$export', {
      method: 'POST',
      body: params('Patient/bx-2', 'Patient/bx-none'),
    });
    const manifest = await waitForManifest(s, level);
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', 1],
      ['Observation', 3],
    ]);
    const patients = await download(s, manifest.output[0]?.url as string);
    expect(patients.map((l) => (JSON.parse(l) as Resource).id)).toEqual(['bx-2']);
    expect(manifest.error).toHaveLength(1);
    const [note] = await download(s, manifest.error[0]?.url as string);
    const outcome = JSON.parse(note as string) as OperationOutcome;
    expect([outcome.issue[0]?.severity, outcome.issue[0]?.details?.text]).toEqual([
      'warning',
      'Patient/bx-none has no Patient resource on this server',
    ]);

    // In a Group, only its members: bx-2 is not one of bx-group's.
    const group = await kickoff(s, '/fhir/Group/bx-group/$export', {
      method: 'POST',
      body: params('Patient/bx-1', 'Patient/bx-2'),
    });
    const inGroup = await waitForManifest(s, group);
    expect(inGroup.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', 1],
      ['Observation', 2],
    ]);
    const [groupNote] = await download(s, inGroup.error[0]?.url as string);
    expect((JSON.parse(groupNote as string) as OperationOutcome).issue[0]?.details?.text).toBe(
      'Patient/bx-2 is not a member of Group/bx-group: left out',
    );

    // Not at system level; only Patient references.
    for (const [path, body] of [
      ['/fhir/$export', params('Patient/bx-1')],
      ['/fhir/Patient/$export', params('Observation/bx-1')],
      ['/fhir/Patient/$export', params('')],
    ] as const) {
      const res = await s.call(path, { method: 'POST', body, headers: ASYNC });
      expect(res.status, `${path} ${body}`).toBe(400);
      expect(((await res.json()) as OperationOutcome).issue[0]?.expression).toEqual(['patient']);
    }
  });

  it('masks the export for outcome assessors: no arms, no sirolimus levels', async () => {
    const status = await kickoff(s, '/fhir/$export', { role: 'outcome-assessor' });
    const manifest = await waitForManifest(s, status, 'outcome-assessor');
    const byType = Object.fromEntries(manifest.output.map((o) => [o.type, o]));
    // The study's Measure is a definition (outcome names, no child's arm).
    expect(Object.keys(byType).sort()).toEqual(['Measure', 'Observation', 'ResearchStudy', 'ResearchSubject']);
    const subjects = await download(s, byType.ResearchSubject?.url as string, 'outcome-assessor');
    expect(subjects).toHaveLength(2);
    for (const l of subjects) expect(l).not.toContain('dose');
    const observations = await download(s, byType.Observation?.url as string, 'outcome-assessor');
    expect(byType.Observation?.count).toBe(6);
    expect(observations).toHaveLength(6);
    expect(observations.join('\n')).not.toContain('29247-4');
    const forbidden = await s.call('/fhir/$export?_type=MedicationRequest', {
      role: 'outcome-assessor',
      headers: ASYNC,
    });
    expect(forbidden.status).toBe(403);
  });

  it('serves status and files only to the requesting client, with a token', async () => {
    const status = await kickoff(s, '/fhir/$export?_type=Patient');
    const manifest = await waitForManifest(s, status);
    const file = pathOf(s, manifest.output[0]?.url as string);
    expect((await s.call(file, { role: 'none' })).status).toBe(401);
    expect((await s.call(file, { role: 'research' })).status).toBe(404);
    expect((await s.call(pathOf(s, status), { role: 'research' })).status).toBe(404);
    expect((await s.call(file)).status).toBe(200);
  });
});
