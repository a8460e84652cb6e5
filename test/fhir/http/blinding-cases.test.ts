/**
 * Issue 17, blinding by meaning: each way a sirolimus level reached an outcome assessor before
 * the ingest labelled it (local code via FHIR and HL7 v2, a DiagnosticReport on the level, a
 * code.text), the arm in narrative, an export downloaded after the client's role changed, and the
 * side channels (hidden answers as absent, history, type-history page size, batch entries).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../../src/auth/secret-hash.ts';
import { enroll } from '../../support/enroll.ts';
import { oru, RAPA } from '../../support/hl7-messages.ts';
import { fetchToken, startTestService, type TestService } from '../../support/test-service.ts';
import { kickoff, pathOf, waitForManifest } from '../bulk/bulk-helpers.ts';

const MRN = { system: 'urn:oid:1.2.156.112606.1.2.2', value: 'KHE-031' };
const level = (code: { coding?: { system: string; code: string }[]; text?: string }, value: number) => ({
  resourceType: 'Observation',
  identifier: [{ system: 'urn:test:cases', value: randomUUID() }],
  status: 'final',
  code,
  subject: { reference: 'Patient/bc-1' },
  effectiveDateTime: '2022-02-10T08:00:00+08:00',
  valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
});

describe('blinding by meaning: what the ingest maps to the trough is hidden from outcome assessors', () => {
  let s: TestService;
  let subjectId: string;
  const asAssessor = (path: string, init: RequestInit = {}) => s.call(path, { ...init, role: 'outcome-assessor' });
  const assessorSees = async (path: string) => (await asAssessor(path)).text();
  const post = async (type: string, body: unknown, role: 'ehr-feed' | 'admin' = 'ehr-feed') => {
    const r = await s.call(`/fhir/${type}`, { method: 'POST', role, body: JSON.stringify(body) });
    expect(r.status, await r.clone().text()).toBe(201);
    return ((await r.json()) as { id: string }).id;
  };

  beforeAll(async () => {
    s = await startTestService();
    subjectId = await enroll(s, 'bc-1', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      arm: 'regular-dose',
      identifier: MRN,
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it("hides a trough sent in the site's local code (urn:oid:…|RAPA) through FHIR, totals included", async () => {
    const id = await post(
      'Observation',
      level({ coding: [{ system: 'urn:oid:1.2.156.112606.1.1.1', code: 'RAPA' }] }, 12.41),
    );
    expect(await (await s.call(`/fhir/Observation/${id}`)).text()).toContain('12.41');
    const b = JSON.parse(await assessorSees('/fhir/Observation?patient=Patient/bc-1&_count=100')) as Bundle;
    expect(JSON.stringify(b)).not.toContain('12.41');
    expect(b.total).toBe(b.entry?.length ?? 0);
    expect((await asAssessor(`/fhir/Observation/${id}`)).status).toBe(404);
  });

  it("hides it from the one-code plans too: a measure over a month, a patient's measure newest first", async () => {
    const rapa = encodeURIComponent('urn:oid:1.2.156.112606.1.1.1|RAPA');
    await post('Observation', level({ coding: [{ system: 'urn:oid:1.2.156.112606.1.1.1', code: 'RAPA' }] }, 12.77));
    // One code with a date range (search-code-date.ts) and one subject's code by date (search-combo.ts).
    const month = `/fhir/Observation?code=${rapa}&date=ge2022-02-01&date=lt2022-03-01`;
    const newest = `/fhir/Observation?subject=Patient/bc-1&code=${rapa}&_sort=-date`;
    for (const path of [month, newest]) {
      expect(await (await s.call(path, { role: 'admin' })).text()).toContain('12.77');
      const b = JSON.parse(await assessorSees(path)) as Bundle;
      expect(JSON.stringify(b)).not.toContain('12.77');
      expect(b.entry ?? []).toHaveLength(0);
    }
  });

  it('hides a trough sent as an HL7 v2 OBX with a local code', async () => {
    const r = await s.call('/hl7v2', {
      method: 'POST',
      role: 'ehr-feed',
      headers: { 'content-type': 'x-application/hl7-v2+er7' },
      body: oru('BC-1', [RAPA('12.53')]),
    });
    expect(await r.text()).toContain('MSA|AA');
    // The source names the patient by MRN; the trial record by reference.
    const rapa = `/fhir/Observation?code=${encodeURIComponent('urn:oid:1.2.156.112606.1.1.1|RAPA')}`;
    expect(await (await s.call(rapa)).text()).toContain('12.53');
    expect(await assessorSees(rapa)).not.toContain('12.53');
    expect(await assessorSees('/fhir/Observation?_count=200')).not.toContain('12.53');
  });

  it('hides a DiagnosticReport whose own code is the trough: its conclusion carries the value', async () => {
    await post('DiagnosticReport', {
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
      subject: { reference: 'Patient/bc-1' },
      effectiveDateTime: '2022-02-10T08:00:00+08:00',
      conclusion: 'Sirolimus 13.11 ng/mL, above the low-dose target',
    });
    expect(await assessorSees('/fhir/DiagnosticReport?patient=Patient/bc-1')).not.toContain('13.11');
    expect(await (await s.call('/fhir/DiagnosticReport?patient=Patient/bc-1')).text()).toContain('13.11');
  });

  it('hides a level named only in code.text', async () => {
    await post('Observation', level({ text: 'Sirolimus trough (whole blood)' }, 11.97), 'admin');
    expect(await assessorSees('/fhir/Observation?patient=Patient/bc-1&_count=100')).not.toContain('11.97');
    expect(await assessorSees('/fhir/Observation?code:text=sirolimus')).not.toContain('11.97');
  });

  it('drops ResearchSubject narrative that names the arm', async () => {
    const current = (await (await s.call(`/fhir/ResearchSubject/${subjectId}`)).json()) as Record<string, unknown>;
    const r = await s.call(`/fhir/ResearchSubject/${subjectId}`, {
      method: 'PUT',
      body: JSON.stringify({
        ...current,
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Arm: regular-dose</div>' },
      }),
    });
    expect(r.status).toBe(200);
    expect(await assessorSees(`/fhir/ResearchSubject/${subjectId}`)).not.toContain('regular-dose');
    expect(await assessorSees(`/fhir/ResearchSubject?_id=${subjectId}`)).not.toContain('regular-dose');
  });

  describe('side channels', () => {
    let hidden: string;
    beforeAll(async () => {
      hidden = await post('Observation', level({ coding: [{ system: 'http://loinc.org', code: '29247-4' }] }, 14.02));
      // Two plain results, newer than the hidden one: a type-history page must be full of them.
      for (const v of [95, 96]) {
        await post('Observation', {
          ...level({ coding: [{ system: 'http://loinc.org', code: '777-3' }] }, v),
          valueQuantity: { value: v, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
        });
      }
      await post('Observation', level({ coding: [{ system: 'http://loinc.org', code: '29247-4' }] }, 14.03));
    });

    it('answers a hidden resource exactly as an absent one: status, body, no ETag or Last-Modified', async () => {
      const absentId = randomUUID();
      for (const [h, a] of [
        [`/fhir/Observation/${hidden}`, `/fhir/Observation/${absentId}`],
        [`/fhir/Observation/${hidden}/_history/1`, `/fhir/Observation/${absentId}/_history/1`],
        [`/fhir/Observation/${hidden}/_history`, `/fhir/Observation/${absentId}/_history`],
      ] as const) {
        const got = await asAssessor(h);
        const want = await asAssessor(a);
        expect(got.status, h).toBe(want.status);
        expect(got.status).toBe(404);
        expect(got.headers.get('etag')).toBeNull();
        expect(got.headers.get('last-modified')).toBeNull();
        expect((await got.text()).replaceAll(hidden, 'X')).toBe((await want.text()).replaceAll(absentId, 'X'));
      }
    });

    it('fills type-history pages with what the assessor may see', async () => {
      const b = JSON.parse(await assessorSees('/fhir/Observation/_history?_count=2')) as Bundle;
      expect(b.entry).toHaveLength(2);
      expect(JSON.stringify(b)).not.toContain('14.0');
    });

    it('keeps one entry per request in a batch, a hidden resource answering as an absent one', async () => {
      const absentId = randomUUID();
      const r = await asAssessor('/fhir', {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { request: { method: 'GET', url: `Observation/${hidden}` } },
            { request: { method: 'GET', url: `Observation/${absentId}` } },
            { request: { method: 'GET', url: `ResearchSubject/${subjectId}` } },
          ],
        }),
      });
      expect(r.status).toBe(200);
      const b = (await r.json()) as Bundle;
      expect(b.entry).toHaveLength(3);
      expect(b.entry?.[0]?.response?.status).toBe(b.entry?.[1]?.response?.status);
      expect(b.entry?.[0]?.response?.status).toMatch(/^404/);
      expect(JSON.stringify(b.entry?.[0]).replaceAll(hidden, 'X')).toBe(
        JSON.stringify(b.entry?.[1]).replaceAll(absentId, 'X'),
      );
      expect(b.entry?.[2]?.response?.status).toMatch(/^200/);
    });
  });
});

describe('an export made before the client became an outcome assessor', () => {
  let s: TestService;
  let dir: string;
  const file = () => join(dir, 'clients.json');
  const writeClients = async (role: string) => {
    const secretHash = await hashSecret('swap-secret');
    writeFileSync(
      file(),
      JSON.stringify({
        clients: [
          { id: 'swap', name: 'Role swap', role, allowedScopes: ['system/*.rs'], secretHash },
          { id: 'coordinator', name: 'Coordinator', role: 'admin', allowedScopes: ['system/*.*'], secretHash },
        ],
      }),
    );
  };
  const token = (id: string) => fetchToken(s.url, { clientId: id, clientSecret: 'swap-secret', role: 'admin' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'khe-clients-'));
    await writeClients('research');
    s = await startTestService({ CLIENTS_FILE: file() });
  });
  afterAll(async () => {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at download once the role has changed', async () => {
    const admin = await token('coordinator');
    await enroll(
      {
        ...s,
        call: (path, init = {}) =>
          s.call(path, {
            ...init,
            headers: { ...Object.fromEntries(new Headers(init.headers)), authorization: `Bearer ${admin}` },
          }),
      },
      'ex-1',
      { start: '2022-01-10', arm: 'regular-dose' },
    );
    const obs = await s.call('/fhir/Observation', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
      body: JSON.stringify({
        ...level({ coding: [{ system: 'http://loinc.org', code: '29247-4' }] }, 12.88),
        subject: { reference: 'Patient/ex-1' },
      }),
    });
    expect(obs.status).toBe(201);
    const research = await token('swap');
    const withToken = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
    const status = await kickoff(s, '/fhir/$export?_type=Observation', withToken(research));
    const manifest = await waitForManifest(
      { ...s, call: (p, init = {}) => s.call(p, { ...init, ...withToken(research) }) },
      status,
    );
    const url = manifest.output[0]?.url as string;
    expect(await (await s.call(pathOf(s, url), withToken(research))).text()).toContain('12.88');

    await writeClients('outcome-assessor');
    let assessor = research;
    const deadline = Date.now() + 10_000;
    while ((decodeJwt(assessor) as { role?: string }).role !== 'outcome-assessor' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      assessor = await token('swap');
    }
    expect(decodeJwt(assessor)).toMatchObject({ role: 'outcome-assessor' });
    const r = await s.call(pathOf(s, url), withToken(assessor));
    expect(r.status).toBe(403);
    expect(await r.text()).not.toContain('12.88');
  });
});

describe('an export downloaded with a token issued before the client’s role changed', () => {
  let s: TestService;
  let dir: string;
  const file = () => join(dir, 'clients.json');
  /** The clients file: `roles` gives each client's role, or `disabled`. */
  const writeClients = async (roles: Record<string, string>) => {
    const secretHash = await hashSecret('old-secret');
    writeFileSync(
      file(),
      JSON.stringify({
        clients: [
          ...Object.entries(roles).map(([id, role]) => ({
            id,
            name: id,
            role: role === 'disabled' ? 'research' : role,
            allowedScopes: ['system/*.rs'],
            secretHash,
            ...(role === 'disabled' ? { disabled: true } : {}),
          })),
          { id: 'coordinator', name: 'Coordinator', role: 'admin', allowedScopes: ['system/*.*'], secretHash },
        ],
      }),
    );
  };
  const token = (id: string) => fetchToken(s.url, { clientId: id, clientSecret: 'old-secret', role: 'admin' });
  const withToken = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
  /** Exports the level as `id` (research) and returns the file's path and the token used. */
  const exportAs = async (id: string): Promise<{ path: string; token: string }> => {
    const t = await token(id);
    const status = await kickoff(s, '/fhir/$export?_type=Observation', withToken(t));
    const manifest = await waitForManifest(
      { ...s, call: (p, init = {}) => s.call(p, { ...init, ...withToken(t) }) },
      status,
    );
    const path = pathOf(s, manifest.output[0]?.url as string);
    expect(await (await s.call(path, withToken(t))).text()).toContain('13.77');
    return { path, token: t };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'khe-clients-'));
    await writeClients({ 'old-token': 'research', 'to-disable': 'research' });
    s = await startTestService({ CLIENTS_FILE: file() });
    const admin = await token('coordinator');
    const asAdmin = (path: string, init: RequestInit = {}) =>
      s.call(path, {
        ...init,
        headers: { ...Object.fromEntries(new Headers(init.headers)), authorization: `Bearer ${admin}` },
      });
    await enroll({ ...s, call: asAdmin }, 'ex-2', { start: '2022-01-10', arm: 'regular-dose' });
    const obs = await asAdmin('/fhir/Observation', {
      method: 'POST',
      body: JSON.stringify({
        ...level({ coding: [{ system: 'http://loinc.org', code: '29247-4' }] }, 13.77),
        subject: { reference: 'Patient/ex-2' },
      }),
    });
    expect(obs.status).toBe(201);
  });
  afterAll(async () => {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at once when the client became an outcome assessor, though its research token is still valid', async () => {
    const { path, token: research } = await exportAs('old-token');
    // Right after the edit: the token's role is still research and the token has minutes to live.
    await writeClients({ 'old-token': 'outcome-assessor', 'to-disable': 'research' });
    const r = await s.call(path, withToken(research));
    expect([401, 403]).toContain(r.status);
    const text = await r.text();
    expect(text).not.toContain('13.77');
    expect(text).toContain('OperationOutcome');
  });

  it('is refused once the client is disabled, with a token issued before', async () => {
    const { path, token: research } = await exportAs('to-disable');
    await writeClients({ 'old-token': 'outcome-assessor', 'to-disable': 'disabled' });
    const r = await s.call(path, withToken(research));
    expect([401, 403]).toContain(r.status);
    expect(await r.text()).not.toContain('13.77');
    // And it gets no new token.
    await expect(token('to-disable')).rejects.toThrow(/401/);
  });
});
