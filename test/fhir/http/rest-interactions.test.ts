import type { Bundle, CapabilityStatement, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/test-service.ts';

const json = (r: unknown) => JSON.stringify(r);

function platelets(patientId: string, day: string, value = 80): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: `${day}T08:00:00Z`,
    valueQuantity: { value, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
  };
}

describe('FHIR REST interactions over HTTP', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('serves a public CapabilityStatement listing what is implemented', async () => {
    const res = await fetch(`${s.fhir}/metadata`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    const cs = (await res.json()) as CapabilityStatement;
    expect(cs.fhirVersion).toBe('4.0.1');
    const obs = cs.rest?.[0]?.resource?.find((r) => r.type === 'Observation');
    expect(obs?.interaction?.map((i) => i.code)).toEqual(
      expect.arrayContaining(['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type']),
    );
    expect(obs?.searchParam?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['_id', '_lastUpdated', 'identifier', 'patient', 'subject', 'code', 'date', 'status']),
    );
    expect(cs.rest?.[0]?.interaction?.map((i) => i.code)).toEqual(['transaction', 'batch', 'history-system']);
    expect(cs.rest?.[0]?.resource?.find((r) => r.type === 'AuditEvent')?.interaction?.map((i) => i.code)).not.toContain(
      'update',
    );
  });

  it('creates with 201, Location and ETag, ignoring a body id', async () => {
    const res = await s.call('/fhir/Patient', { method: 'POST', body: json({ resourceType: 'Patient', id: 'mine' }) });
    expect(res.status).toBe(201);
    const p = (await res.json()) as Patient;
    expect(p.id).not.toBe('mine');
    expect(res.headers.get('location')).toBe(`${s.fhir}/Patient/${p.id}/_history/1`);
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(p.meta?.versionId).toBe('1');
    expect(p.meta?.lastUpdated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('reads with ETag and Last-Modified, 404 for unknown, 410 after delete, and keeps history', async () => {
    const created = (await (
      await s.call('/fhir/Patient', { method: 'POST', body: json({ resourceType: 'Patient', gender: 'male' }) })
    ).json()) as Patient;
    const read = await s.call(`/fhir/Patient/${created.id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(new Date(read.headers.get('last-modified') as string).getTime()).toBeGreaterThan(0);
    expect((await s.call('/fhir/Patient/does-not-exist')).status).toBe(404);
    const del = await s.call(`/fhir/Patient/${created.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const gone = await s.call(`/fhir/Patient/${created.id}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as OperationOutcome).issue?.[0]?.code).toBe('deleted');
    const vread = await s.call(`/fhir/Patient/${created.id}/_history/1`);
    expect(vread.status).toBe(200);
    expect(((await vread.json()) as Patient).gender).toBe('male');
    expect((await s.call(`/fhir/Patient/${created.id}/_history/9`)).status).toBe(404);
    const hist = (await (await s.call(`/fhir/Patient/${created.id}/_history`)).json()) as Bundle;
    expect(hist.type).toBe('history');
    expect(hist.total).toBe(2);
    expect(hist.entry?.map((e) => e.request?.method)).toEqual(['DELETE', 'POST']);
  });

  it('gives ETags as versions only: conditional read 304, none on searchsets and OperationOutcomes', async () => {
    await s.call('/fhir/Patient/etag-1', { method: 'PUT', body: json({ resourceType: 'Patient', id: 'etag-1' }) });
    const read = await s.call('/fhir/Patient/etag-1');
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect((await s.call('/fhir/Patient/etag-1', { headers: { 'if-none-match': 'W/"1"' } })).status).toBe(304);
    const changed = await s.call('/fhir/Patient/etag-1', { headers: { 'if-none-match': 'W/"0"' } });
    expect(changed.status).toBe(200);
    const search = await s.call('/fhir/Patient?_id=etag-1');
    expect(search.status).toBe(200);
    expect(search.headers.get('etag')).toBeNull();
    const missing = await s.call('/fhir/Patient/etag-none');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('etag')).toBeNull();
  });

  it('updates: new version, id mismatch 400, If-Match mismatch 412, update-as-create 201', async () => {
    const put1 = await s.call('/fhir/Patient/ehr-123', {
      method: 'PUT',
      body: json({ resourceType: 'Patient', id: 'ehr-123', gender: 'female' }),
    });
    expect(put1.status).toBe(201);
    expect(put1.headers.get('location')).toBe(`${s.fhir}/Patient/ehr-123/_history/1`);
    const put2 = await s.call('/fhir/Patient/ehr-123', {
      method: 'PUT',
      headers: { 'if-match': 'W/"1"' },
      body: json({ resourceType: 'Patient', id: 'ehr-123', gender: 'other' }),
    });
    expect(put2.status).toBe(200);
    expect(put2.headers.get('etag')).toBe('W/"2"');
    const stale = await s.call('/fhir/Patient/ehr-123', {
      method: 'PUT',
      headers: { 'if-match': 'W/"1"' },
      body: json({ resourceType: 'Patient', id: 'ehr-123', gender: 'male' }),
    });
    expect(stale.status).toBe(412);
    const mismatch = await s.call('/fhir/Patient/ehr-123', {
      method: 'PUT',
      body: json({ resourceType: 'Patient', id: 'other-id' }),
    });
    expect(mismatch.status).toBe(400);
    const oo = (await mismatch.json()) as OperationOutcome;
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue?.[0]?.expression).toEqual(['Patient.id']);
    const same = await s.call('/fhir/Patient/ehr-123', {
      method: 'PUT',
      body: json({ resourceType: 'Patient', id: 'ehr-123', gender: 'other' }),
    });
    expect(same.status).toBe(200);
    expect(same.headers.get('etag')).toBe('W/"2"');
  });

  it('patches with JSON Patch: all or nothing, If-Match, a new version, errors as OperationOutcomes', async () => {
    await s.call('/fhir/Patient/patch-1', {
      method: 'PUT',
      body: json({ resourceType: 'Patient', id: 'patch-1', gender: 'female', birthDate: '2021-01-01' }),
    });
    const patch = (ops: unknown, headers: Record<string, string> = {}, path = '/fhir/Patient/patch-1') =>
      s.call(path, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json', ...headers },
        body: json(ops),
      });
    const ok = await patch(
      [
        { op: 'test', path: '/gender', value: 'female' },
        { op: 'replace', path: '/birthDate', value: '2021-02-01' },
        { op: 'add', path: '/name', value: [{ family: 'Li' }] },
      ],
      { 'if-match': 'W/"1"' },
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('W/"2"');
    const patched = (await ok.json()) as Patient;
    expect([patched.birthDate, patched.name?.[0]?.family, patched.meta?.versionId]).toEqual(['2021-02-01', 'Li', '2']);

    // A failing test leaves everything as it was, even the operations before it.
    const failed = await patch([
      { op: 'replace', path: '/gender', value: 'male' },
      { op: 'test', path: '/birthDate', value: '1999-01-01' },
    ]);
    expect(failed.status).toBe(422);
    expect(((await failed.json()) as OperationOutcome).issue?.[0]?.details?.text).toContain('operation 1');
    const after = (await (await s.call('/fhir/Patient/patch-1')).json()) as Patient;
    expect([after.gender, after.meta?.versionId]).toEqual(['female', '2']);

    const cases: [unknown, Record<string, string>, string, number][] = [
      [[{ op: 'replace', path: '/gender', value: 'male' }], { 'if-match': 'W/"1"' }, '/fhir/Patient/patch-1', 412],
      [[{ op: 'replace', path: '/birthDate', value: 'not a date' }], {}, '/fhir/Patient/patch-1', 422],
      [[{ op: 'remove', path: '/nothing-here' }], {}, '/fhir/Patient/patch-1', 422],
      [[{ op: 'replace', path: '/id', value: 'other' }], {}, '/fhir/Patient/patch-1', 400],
      [[{ op: 'bogus', path: '/gender' }], {}, '/fhir/Patient/patch-1', 400],
      [{ op: 'replace', path: '/gender', value: 'male' }, {}, '/fhir/Patient/patch-1', 400],
      [[{ op: 'replace', path: '/gender', value: 'male' }], {}, '/fhir/Patient/no-such', 404],
      [
        [{ op: 'replace', path: '/gender', value: 'male' }],
        { 'content-type': 'application/fhir+json' },
        '/fhir/Patient/patch-1',
        415,
      ],
    ];
    for (const [ops, headers, path, status] of cases) {
      const res = await patch(ops, headers, path);
      expect(res.status, json(ops)).toBe(status);
      expect(((await res.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    }
    // Unauthorised, forbidden and oversized patches are OperationOutcomes too, and change nothing.
    const replaceGender = json([{ op: 'replace', path: '/gender', value: 'male' }]);
    const bigPatch = json(
      Array.from({ length: 2000 }, (_, i) => ({ op: 'add', path: `/x${i}`, value: 'a'.repeat(1000) })),
    );
    for (const [role, body, status] of [
      ['none', replaceGender, 401],
      ['research', replaceGender, 403],
      ['admin', bigPatch, 413],
    ] as const) {
      const res = await s.call('/fhir/Patient/patch-1', {
        method: 'PATCH',
        role,
        headers: { 'content-type': 'application/json-patch+json' },
        body,
      });
      expect(res.status, role).toBe(status);
      expect(((await res.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    }
    const unchanged = (await (await s.call('/fhir/Patient/patch-1')).json()) as Patient;
    expect(unchanged.meta?.versionId).toBe('2');
    // Inside Bundles, as a Binary (http.html#patch); references to urn:uuid entries are rewritten.
    const binary = (ops: unknown) => ({
      resourceType: 'Binary',
      contentType: 'application/json-patch+json',
      data: Buffer.from(json(ops)).toString('base64'),
    });
    const tx = await s.call('/fhir', {
      method: 'POST',
      body: json({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: 'urn:uuid:0c3c3a2e-7a52-4d3a-9a1e-4f5c6d7e8f90',
            resource: { resourceType: 'Practitioner', name: [{ family: 'Wang' }] },
            request: { method: 'POST', url: 'Practitioner' },
          },
          {
            resource: binary([
              {
                op: 'add',
                path: '/generalPractitioner',
                value: [{ reference: 'urn:uuid:0c3c3a2e-7a52-4d3a-9a1e-4f5c6d7e8f90' }],
              },
            ]),
            request: { method: 'PATCH', url: 'Patient/patch-1', ifMatch: 'W/"2"' },
          },
        ],
      }),
    });
    expect(tx.status).toBe(200);
    const txResponse = (await tx.json()) as Bundle;
    expect(txResponse.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '200 OK']);
    const withGp = (await (await s.call('/fhir/Patient/patch-1')).json()) as Patient;
    expect(withGp.meta?.versionId).toBe('3');
    expect(withGp.generalPractitioner?.[0]?.reference).toMatch(/^Practitioner\/[0-9a-f-]{36}$/);
    // A batch answers each entry: a bad patch document is that entry's 400, a failed test its 422.
    const batch = await s.call('/fhir', {
      method: 'POST',
      body: json({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            resource: binary([{ op: 'test', path: '/gender', value: 'male' }]),
            request: { method: 'PATCH', url: 'Patient/patch-1' },
          },
          {
            resource: binary([{ op: 'replace', path: '/gender', value: 'other' }]),
            request: { method: 'PATCH', url: 'Patient/patch-1' },
          },
        ],
      }),
    });
    expect(((await batch.json()) as Bundle).entry?.map((e) => e.response?.status)).toEqual([
      '422 Unprocessable Entity',
      '200 OK',
    ]);
    for (const resource of [
      undefined,
      { resourceType: 'Patient' },
      { resourceType: 'Binary', contentType: 'application/fhir+json', data: 'e30=' },
      binary({ op: 'replace', path: '/gender', value: 'male' }),
    ]) {
      const res = await s.call('/fhir', {
        method: 'POST',
        body: json({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ ...(resource ? { resource } : {}), request: { method: 'PATCH', url: 'Patient/patch-1' } }],
        }),
      });
      expect(res.status, json(resource)).toBe(400);
      expect(((await res.json()) as OperationOutcome).issue?.[0]?.details?.text).toContain('Bundle.entry[0]');
    }
    const cs = (await (await s.call('/fhir/metadata', { role: 'none' })).json()) as CapabilityStatement;
    const patient = cs.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
    expect(patient?.interaction?.map((i) => i.code)).toContain('patch');
  });

  it('conditional create: 0 matches 201, 1 match 200, more 412', async () => {
    const body = json({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'CC-1' }] });
    const headers = { 'if-none-exist': 'identifier=urn:mrn|CC-1' };
    const first = await s.call('/fhir/Patient', { method: 'POST', headers, body });
    expect(first.status).toBe(201);
    const second = await s.call('/fhir/Patient', { method: 'POST', headers, body });
    expect(second.status).toBe(200);
    expect(((await second.json()) as Patient).id).toBe(((await first.json()) as Patient).id);
    await s.call('/fhir/Patient', {
      method: 'POST',
      body: json({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'CC-2' }] }),
    });
    await s.call('/fhir/Patient', {
      method: 'POST',
      body: json({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'CC-2' }] }),
    });
    const many = await s.call('/fhir/Patient', {
      method: 'POST',
      headers: { 'if-none-exist': 'identifier=urn:mrn|CC-2' },
      body,
    });
    expect(many.status).toBe(412);
  });

  it('conditional create is safe under concurrency: one resource for 10 racing requests', async () => {
    const body = json({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'RACE-1' }] });
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        s.call('/fhir/Patient', { method: 'POST', headers: { 'if-none-exist': 'identifier=urn:mrn|RACE-1' }, body }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(9);
    const b = (await (await s.call('/fhir/Patient?identifier=urn:mrn|RACE-1')).json()) as Bundle;
    expect(b.total).toBe(1);
  });

  it('conditional update creates on no match and updates the single match', async () => {
    const url = '/fhir/Patient?identifier=urn:mrn|CU-1';
    const c = await s.call(url, {
      method: 'PUT',
      body: json({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'CU-1' }], gender: 'male' }),
    });
    expect(c.status).toBe(201);
    const u = await s.call(url, {
      method: 'PUT',
      body: json({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'CU-1' }], gender: 'female' }),
    });
    expect(u.status).toBe(200);
    expect(((await u.json()) as Patient).id).toBe(((await c.json()) as Patient).id);
  });

  it('searches with total, self and next links, and pages stably under concurrent inserts', async () => {
    const pid = 'page-patient';
    for (let i = 0; i < 7; i++) {
      await s.call('/fhir/Observation', {
        method: 'POST',
        body: json(platelets(pid, `2021-03-${String(10 + i).padStart(2, '0')}`, 50 + i)),
      });
    }
    const first = (await (
      await s.call(`/fhir/Observation?subject=Patient/${pid}&_count=3&_total=accurate`)
    ).json()) as Bundle;
    expect(first.total).toBe(7);
    expect(first.entry).toHaveLength(3);
    expect(first.link?.find((l) => l.relation === 'self')?.url).toBe(
      `${s.fhir}/Observation?subject=${encodeURIComponent(`Patient/${pid}`)}&_count=3&_total=accurate`,
    );
    // Inserted while the client pages: must not shift or duplicate what the client sees.
    await s.call('/fhir/Observation', { method: 'POST', body: json(platelets(pid, '2021-03-01', 1)) });
    const seen = new Set(first.entry?.map((e) => e.resource?.id));
    let next = first.link?.find((l) => l.relation === 'next')?.url;
    while (next) {
      const page = (await (await s.call(next.slice(s.url.length))).json()) as Bundle;
      for (const e of page.entry ?? []) {
        expect(seen.has(e.resource?.id)).toBe(false);
        seen.add(e.resource?.id);
      }
      expect(page.total).toBe(7);
      next = page.link?.find((l) => l.relation === 'next')?.url;
    }
    expect(seen.size).toBe(7);
  });

  it('searches by code, date prefixes, status and _sort by date', async () => {
    const pid = 'date-patient';
    for (const day of ['2021-01-05', '2021-02-05', '2021-03-05']) {
      await s.call('/fhir/Observation', { method: 'POST', body: json(platelets(pid, day)) });
    }
    const q = async (query: string): Promise<Bundle> =>
      (await (await s.call(`/fhir/Observation?patient=${pid}&${query}`)).json()) as Bundle;
    expect((await q('date=2021-02-05')).total).toBe(1);
    expect((await q('date=eq2021-02')).total).toBe(1);
    expect((await q('date=lt2021-02-05')).total).toBe(1);
    expect((await q('date=le2021-02-05')).total).toBe(2);
    expect((await q('date=gt2021-02-05')).total).toBe(1);
    expect((await q('date=ge2021-02-05')).total).toBe(2);
    expect((await q('date=ge2021-01-01&date=lt2021-03-01')).total).toBe(2);
    expect((await q('code=http://loinc.org|777-3&status=final')).total).toBe(3);
    expect((await q('code=http://loinc.org|29247-4')).total).toBe(0);
    const asc = await q('_sort=date');
    expect(asc.entry?.map((e) => (e.resource as Observation).effectiveDateTime?.slice(0, 10))).toEqual([
      '2021-01-05',
      '2021-02-05',
      '2021-03-05',
    ]);
    const desc = await q('_sort=-date');
    expect(desc.entry?.map((e) => (e.resource as Observation).effectiveDateTime?.slice(0, 10))).toEqual([
      '2021-03-05',
      '2021-02-05',
      '2021-01-05',
    ]);
    const bad = await s.call(`/fhir/Observation?date=notadate`);
    expect(bad.status).toBe(400);
  });

  it('returns only the elements asked for with _elements and _summary, tagged SUBSETTED', async () => {
    const pid = 'elements-patient';
    await s.call('/fhir/Observation', {
      method: 'POST',
      body: json({ ...platelets(pid, '2021-04-05'), note: [{ text: 'clumped' }] }),
    });
    const first = async (query: string) => {
      const res = await s.call(`/fhir/Observation?patient=${pid}&${query}`);
      expect(res.status, query).toBe(200);
      const bundle = (await res.json()) as Bundle;
      return { bundle, resource: bundle.entry?.[0]?.resource as Observation };
    };
    const { bundle, resource } = await first('_elements=valueQuantity,value,effective');
    expect(Object.keys(resource).sort()).toEqual([
      'code',
      'effectiveDateTime',
      'id',
      'meta',
      'resourceType',
      'status',
      'valueQuantity',
    ]);
    expect(resource.meta?.tag?.map((t) => t.code)).toContain('SUBSETTED');
    expect(bundle.link?.[0]?.url).toContain('_elements=valueQuantity%2Cvalue%2Ceffective');
    const summary = (await first('_summary=true')).resource;
    expect(summary.note).toBeUndefined();
    expect(summary.subject?.reference).toBe(`Patient/${pid}`);
    // The stored resource is whole.
    const whole = (await first('_summary=false')).resource;
    expect(whole.note?.[0]?.text).toBe('clumped');
    expect(whole.meta?.tag).toBeUndefined();
    // On a read and a vread too.
    const read = (await (await s.call(`/fhir/Observation/${whole.id}?_elements=value`)).json()) as Observation;
    expect(Object.keys(read).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
    const vread = (await (
      await s.call(`/fhir/Observation/${whole.id}/_history/1?_summary=text`)
    ).json()) as Observation;
    expect(vread.meta?.tag?.map((t) => t.code)).toEqual(['SUBSETTED']);
    expect(vread.valueQuantity).toBeUndefined();
    expect((await s.call(`/fhir/Observation/${whole.id}?_summary=count`)).status).toBe(400);
    const bad = await s.call(`/fhir/Observation?_elements=value.unit`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as OperationOutcome).issue?.[0]?.expression).toEqual(['_elements']);
  });

  it('handles unknown parameters by Prefer handling, and POST _search', async () => {
    const lenient = await s.call('/fhir/Patient?unknown-param=1');
    expect(lenient.status).toBe(200);
    const strict = await s.call('/fhir/Patient?unknown-param=1', { headers: { prefer: 'handling=strict' } });
    expect(strict.status).toBe(400);
    expect(((await strict.json()) as OperationOutcome).issue?.[0]?.expression).toEqual(['unknown-param']);
    const form = await s.call('/fhir/Patient/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'identifier=urn:mrn|CC-1',
    });
    expect(form.status).toBe(200);
    expect(((await form.json()) as Bundle).total).toBe(1);
  });

  it('finds the trial by identifier, with both arms, and includes the individual of a subject', async () => {
    const b = (await (
      await s.call('/fhir/ResearchStudy?identifier=https://clinicaltrials.gov|NCT04775173')
    ).json()) as Bundle;
    expect(b.total).toBe(1);
    const study = b.entry?.[0]?.resource as { id: string; arm?: { name: string }[] };
    expect(study.arm?.map((a) => a.name).sort()).toEqual(['low-dose', 'regular-dose']);
    await s.call('/fhir/Patient/khe-1', { method: 'PUT', body: json({ resourceType: 'Patient', id: 'khe-1' }) });
    const subject = {
      resourceType: 'ResearchSubject',
      status: 'on-study',
      study: { reference: `ResearchStudy/${study.id}` },
      individual: { reference: 'Patient/khe-1' },
      assignedArm: 'low-dose',
      period: { start: '2022-01-10' },
    };
    expect((await s.call('/fhir/ResearchSubject', { method: 'POST', body: json(subject) })).status).toBe(201);
    const badArm = await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: json({ ...subject, assignedArm: 'high-dose' }),
    });
    expect(badArm.status).toBe(422);
    expect(((await badArm.json()) as OperationOutcome).issue?.[0]?.expression).toEqual(['ResearchSubject.assignedArm']);
    const inc = (await (
      await s.call(`/fhir/ResearchSubject?study=ResearchStudy/${study.id}&_include=ResearchSubject:individual`)
    ).json()) as Bundle;
    expect(inc.entry?.map((e) => `${e.search?.mode}:${e.resource?.resourceType}`)).toEqual([
      'match:ResearchSubject',
      'include:Patient',
    ]);
  });

  it('honours Prefer: return=minimal and return=OperationOutcome', async () => {
    const minimal = await s.call('/fhir/Patient', {
      method: 'POST',
      headers: { prefer: 'return=minimal' },
      body: json({ resourceType: 'Patient' }),
    });
    expect(minimal.status).toBe(201);
    expect(await minimal.text()).toBe('');
    expect(minimal.headers.get('location')).toMatch(/\/Patient\/.+\/_history\/1$/);
    const oo = await s.call('/fhir/Patient', {
      method: 'POST',
      headers: { prefer: 'return=OperationOutcome' },
      body: json({ resourceType: 'Patient' }),
    });
    expect(((await oo.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
  });

  it('answers every error with an OperationOutcome and the right status', async () => {
    const expectOutcome = async (res: Response, status: number): Promise<OperationOutcome> => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/fhir+json');
      const oo = (await res.json()) as OperationOutcome;
      expect(oo.resourceType).toBe('OperationOutcome');
      expect(oo.issue?.length).toBeGreaterThan(0);
      return oo;
    };
    await expectOutcome(await s.call('/fhir/Patient', { method: 'POST', body: '{"resourceType": "Patient",' }), 400);
    await expectOutcome(await s.call('/fhir/Patient', { method: 'POST', body: '[1,2]' }), 400);
    await expectOutcome(
      await s.call('/fhir/Patient', { method: 'POST', body: json({ resourceType: 'Observation' }) }),
      400,
    );
    await expectOutcome(
      await s.call('/fhir/Patient', {
        method: 'POST',
        headers: { 'content-type': 'application/xml' },
        body: '<Patient/>',
      }),
      415,
    );
    await expectOutcome(
      await s.call('/fhir/Patient', {
        method: 'POST',
        body: json({ resourceType: 'Patient', x: 'y'.repeat(1_100_000) }),
      }),
      413,
    );
    await expectOutcome(await s.call('/fhir/Unicorn/1'), 404);
    await expectOutcome(
      await s.call('/fhir/Patient', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json' },
        body: '[]',
      }),
      405,
    );
    await expectOutcome(await s.call('/fhir/Patient/1', { method: 'OPTIONS' }), 405);
    await expectOutcome(await s.call('/fhir/Patient?_format=xml'), 406);
    const invalid = await expectOutcome(
      await s.call('/fhir/Observation', {
        method: 'POST',
        body: json({ resourceType: 'Observation', status: 'done', code: { text: 'x' } }),
      }),
      422,
    );
    expect(invalid.issue?.[0]?.expression).toEqual(['Observation.status']);
    const unknownElement = await expectOutcome(
      await s.call('/fhir/Patient', { method: 'POST', body: json({ resourceType: 'Patient', colour: 'blue' }) }),
      422,
    );
    expect(unknownElement.issue?.[0]?.expression?.[0]).toContain('colour');
    await expectOutcome(await s.call('/fhir/Patient', { role: 'none' }), 401);
  });

  it('runs transactions all-or-nothing with urn:uuid rewriting and ifNoneExist', async () => {
    const tx: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:2b7c2a3e-0000-4000-8000-000000000001',
          resource: { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'TX-1' }] },
          request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:mrn|TX-1' },
        },
        {
          fullUrl: 'urn:uuid:2b7c2a3e-0000-4000-8000-000000000002',
          resource: platelets('placeholder', '2021-05-01'),
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    (tx.entry?.[1]?.resource as Observation).subject = { reference: 'urn:uuid:2b7c2a3e-0000-4000-8000-000000000001' };
    const res = await s.call('/fhir', { method: 'POST', body: json(tx) });
    expect(res.status).toBe(200);
    const out = (await res.json()) as Bundle;
    expect(out.type).toBe('transaction-response');
    expect(out.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created']);
    const patientId = (out.entry?.[0]?.resource as Patient | undefined)?.id;
    expect((out.entry?.[1]?.resource as Observation | undefined)?.subject?.reference).toBe(`Patient/${patientId}`);
    // Again: the conditional create matches, the reference resolves to the existing patient.
    const again = (await (await s.call('/fhir', { method: 'POST', body: json(tx) })).json()) as Bundle;
    expect(again.entry?.[0]?.response?.status).toBe('200 OK');
    expect((again.entry?.[1]?.resource as Observation | undefined)?.subject?.reference).toBe(`Patient/${patientId}`);
    // A failing entry rolls back everything.
    const before = ((await (await s.call('/fhir/Observation?_summary=count')).json()) as Bundle).total;
    const failing: Bundle = {
      ...tx,
      entry: [
        ...(tx.entry ?? []),
        {
          resource: { resourceType: 'Patient', gender: 'x' } as unknown as Patient,
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    };
    const failed = await s.call('/fhir', { method: 'POST', body: json(failing) });
    expect(failed.status).toBe(422);
    expect(((await failed.json()) as OperationOutcome).issue?.[0]?.diagnostics).toContain('Bundle.entry[2]');
    const after = ((await (await s.call('/fhir/Observation?_summary=count')).json()) as Bundle).total;
    expect(after).toBe(before);
  });

  it('runs batches entry by entry with one status each', async () => {
    const batch: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
        {
          resource: { resourceType: 'Patient', gender: 'x' } as unknown as Patient,
          request: { method: 'POST', url: 'Patient' },
        },
        { request: { method: 'GET', url: 'ResearchStudy?identifier=https://clinicaltrials.gov|NCT04775173' } },
      ],
    };
    const res = await s.call('/fhir', { method: 'POST', body: json(batch) });
    expect(res.status).toBe(200);
    const out = (await res.json()) as Bundle;
    expect(out.type).toBe('batch-response');
    expect(out.entry?.map((e) => e.response?.status.split(' ')[0])).toEqual(['201', '404', '422', '200']);
    expect(out.entry?.[1]?.response?.outcome?.resourceType).toBe('OperationOutcome');
    expect((out.entry?.[3]?.resource as Bundle | undefined)?.total).toBe(1);
    const notBundle = await s.call('/fhir', {
      method: 'POST',
      body: json({ resourceType: 'Bundle', type: 'collection' }),
    });
    expect(notBundle.status).toBe(400);
  });
});

describe('profile validation over HTTP', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('validates a resource against the profile it claims in meta.profile (422 with the failing rule)', async () => {
    const subject = {
      resourceType: 'ResearchSubject',
      meta: { profile: ['https://khe-trial.example.org/fhir/StructureDefinition/trial-research-subject'] },
      status: 'on-study',
      study: { reference: 'ResearchStudy/nct04775173' },
      individual: { reference: 'Patient/p1' },
      assignedArm: 'low-dose',
      period: { start: '2022-01-10' },
    };
    expect((await s.call('/fhir/ResearchSubject', { method: 'POST', body: json(subject) })).status).toBe(201);
    const bad = await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: json({ ...subject, period: { end: '2023-01-01' } }),
    });
    expect(bad.status).toBe(422);
    const oo = (await bad.json()) as OperationOutcome;
    expect(JSON.stringify(oo)).toContain('khe-rs-1');
    // Without the claim, the base definition alone applies.
    const { meta: _meta, ...unprofiled } = subject;
    expect(
      (
        await s.call('/fhir/ResearchSubject', {
          method: 'POST',
          body: json({ ...unprofiled, period: { end: '2023-01-01' } }),
        })
      ).status,
    ).toBe(201);
  });
});

describe('limits', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ MAX_BUNDLE_ENTRIES: '3' });
  });
  afterAll(async () => {
    await s.stop();
  });

  it('refuses a Bundle over the entry limit, caps _count, and rejects a bad _count', async () => {
    const entry = Array.from({ length: 4 }, () => ({
      resource: { resourceType: 'Patient' },
      request: { method: 'POST', url: 'Patient' },
    }));
    const big = await s.call('/fhir', { method: 'POST', body: json({ resourceType: 'Bundle', type: 'batch', entry }) });
    expect(big.status).toBe(400);
    expect(((await big.json()) as OperationOutcome).issue?.[0]?.details?.text).toMatch(/at most 3/);
    const capped = (await (await s.call('/fhir/Patient?_count=5000')).json()) as Bundle;
    expect(capped.link?.[0]?.url).toContain('_count=1000');
    expect((await s.call('/fhir/Patient?_count=-1')).status).toBe(400);
    expect((await s.call('/fhir/Patient?_count=abc')).status).toBe(400);
    const head = await s.call('/fhir/ResearchStudy/nct04775173', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe('W/"1"');
    expect((await s.call('/fhir/Patient?_cursor=garbage')).status).toBe(400);
  });
});
