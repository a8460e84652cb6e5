/**
 * The generated blinding test: from the study definitions (study.json armRevealing) and the
 * ConceptMaps, every arm-revealing measure is sent in every way the ingest accepts it (each LOINC
 * code, each mapped local code, HL7 v2, a DiagnosticReport on the level, a report listing the
 * level, in transactions, a code.text only). Every read route is tried as outcome-assessor before
 * and after: nothing else is written in between, so "before" is the run where that data never
 * existed. No status, body, total or header may differ; a hidden resource reads as an absent one.
 * The routes include searches by value (value-quantity with and without a code, counts, totals,
 * sorting, form POSTs): a level above 10 ng/mL would tell the arm through what they match.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Coding, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConceptMaps } from '../../../src/mapping/load-concept-maps.ts';
import { loadStudyDefinitions } from '../../../src/mapping/load-studies.ts';
import type { StudyDefinition } from '../../../src/mapping/study-definition.ts';
import { enroll } from '../../support/enroll.ts';
import { oru } from '../../support/hl7-messages.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const MRN = { system: 'urn:oid:1.2.156.112606.1.2.2', value: 'KHE-G1' };
const HL7_SYSTEMS = (
  JSON.parse(readFileSync('mappings/hl7v2/systems.json', 'utf8')) as { codingSystems: Record<string, string> }
).codingSystems;

interface Way {
  name: string;
  send(s: TestService, value: number): Promise<Response>;
}

/** Every code each arm-revealing measure is known by: its own codes, mapped local codes, declared extras. */
async function revealingCodes(studies: StudyDefinition[]): Promise<{ coding: Coding; measured: boolean }[]> {
  const maps = await loadConceptMaps();
  const out: { coding: Coding; measured: boolean }[] = [];
  for (const study of studies) {
    for (const id of study.armRevealing.measures) {
      const measure = study.measures.find((m) => m.id === id);
      for (const c of measure?.codes ?? []) {
        out.push({ coding: { system: c.system, code: c.code }, measured: true });
        for (const g of maps.flatMap((m) => m.group ?? [])) {
          if (g.target !== c.system) continue;
          for (const el of g.element ?? []) {
            if (el.target?.some((t) => t.code === c.code)) {
              out.push({ coding: { system: g.source as string, code: el.code as string }, measured: true });
            }
          }
        }
      }
    }
    for (const c of study.armRevealing.codes) out.push({ coding: { system: c.system, code: c.code }, measured: false });
  }
  return out;
}

const obs = (coding: Coding | undefined, value: number, text?: string): Resource =>
  ({
    resourceType: 'Observation',
    identifier: [{ system: 'urn:test:generated', value: randomUUID() }],
    status: 'final',
    code: { ...(coding ? { coding: [coding] } : {}), ...(text ? { text } : {}) },
    subject: { reference: 'Patient/gen-1' },
    effectiveDateTime: '2022-02-10T08:00:00+08:00',
    valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
  }) as Resource;

function ways(codes: { coding: Coding; measured: boolean }[], studies: StudyDefinition[]): Way[] {
  const post = (s: TestService, type: string, body: unknown, role: 'ehr-feed' | 'admin' = 'ehr-feed') =>
    s.call(`/fhir/${type}`, { method: 'POST', role, body: JSON.stringify(body) });
  const tx = (s: TestService, resources: Resource[]) =>
    s.call('/fhir', {
      method: 'POST',
      role: 'ehr-feed',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: resources.map((resource) => ({
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource,
          request: { method: 'POST', url: resource.resourceType },
        })),
      }),
    });
  const out: Way[] = [];
  for (const { coding, measured } of codes) {
    const label = `${coding.system}|${coding.code}`;
    // What the feed may not send (no measure uses the code) an admin may still store.
    const role = measured ? 'ehr-feed' : 'admin';
    out.push({ name: `POST Observation ${label}`, send: (s, v) => post(s, 'Observation', obs(coding, v), role) });
    out.push({
      name: `DiagnosticReport coded ${label}, conclusion with the value`,
      send: (s, v) =>
        post(
          s,
          'DiagnosticReport',
          {
            resourceType: 'DiagnosticReport',
            status: 'final',
            code: { coding: [coding] },
            subject: { reference: 'Patient/gen-1' },
            effectiveDateTime: '2022-02-10T08:00:00+08:00',
            conclusion: `Sirolimus ${v} ng/mL`,
          },
          role,
        ),
    });
    if (!measured) continue;
    out.push({
      name: `transaction: Observation ${label} and a panel report listing it`,
      send: async (s, v) => {
        const o = obs(coding, v);
        const body = {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              fullUrl: 'urn:uuid:9a1f0c4e-0000-4000-8000-000000000001',
              resource: o,
              request: { method: 'POST', url: 'Observation' },
            },
            {
              fullUrl: 'urn:uuid:9a1f0c4e-0000-4000-8000-000000000002',
              resource: {
                resourceType: 'DiagnosticReport',
                status: 'final',
                code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] },
                subject: { reference: 'Patient/gen-1' },
                effectiveDateTime: '2022-02-10T08:00:00+08:00',
                result: [{ reference: 'urn:uuid:9a1f0c4e-0000-4000-8000-000000000001' }],
              },
              request: { method: 'POST', url: 'DiagnosticReport' },
            },
          ],
        };
        return s.call('/fhir', { method: 'POST', role: 'ehr-feed', body: JSON.stringify(body) });
      },
    });
    out.push({ name: `transaction of one Observation ${label}`, send: (s, v) => tx(s, [obs(coding, v)]) });
    const v2 = Object.entries(HL7_SYSTEMS).find(([, uri]) => uri === coding.system)?.[0];
    if (v2) {
      out.push({
        name: `HL7 v2 OBX ${coding.code}^^${v2}`,
        send: (s, v) =>
          s.call('/hl7v2', {
            method: 'POST',
            role: 'ehr-feed',
            headers: { 'content-type': 'x-application/hl7-v2+er7' },
            body: oru(
              `G${randomUUID().slice(0, 8)}`,
              [`OBX|1|NM|${coding.code}^Level^${v2}||${v}|ng/mL^^UCUM|5-15|N|||F|||20220212074000+0800`],
              { mrn: MRN.value, filler: `F${randomUUID().slice(0, 8)}` },
            ),
          }),
      });
    }
  }
  for (const term of studies.flatMap((s) => s.armRevealing.terms)) {
    out.push({
      name: `Observation named only in code.text (${term})`,
      send: (s, v) => post(s, 'Observation', obs(undefined, v, `${term} trough`), 'admin'),
    });
  }
  return out;
}

/**
 * What may differ between two identical answers: the Bundle timestamp, and the paging cursor's
 * snapshot bound, a store-wide write sequence that every request's own AuditEvent moves (the
 * position it resumes after must not differ).
 */
function normalise(text: string): string {
  return text
    .replace(/"timestamp":"[^"]+"/g, '"timestamp":"T"')
    .replace(/_cursor=([A-Za-z0-9_-]+)/g, (_m, c: string) => {
      const { bound: _bound, ...rest } = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as {
        bound?: string;
      };
      return `_cursor=${JSON.stringify(rest)}`;
    });
}

const READABLE = ['Observation', 'DiagnosticReport', 'MeasureReport', 'ResearchSubject', 'ResearchStudy'];

function routes(subjectId: string, codes: { coding: Coding }[], terms: string[]): string[] {
  const out: string[] = ['/fhir/_history?_count=5'];
  for (const t of READABLE) {
    out.push(`/fhir/${t}?_count=3`, `/fhir/${t}?_summary=count`, `/fhir/${t}/_history?_count=3`);
  }
  for (const t of ['Observation', 'DiagnosticReport']) {
    out.push(
      `/fhir/${t}?patient=Patient/gen-1`,
      `/fhir/${t}?subject=Patient/gen-1&_summary=count`,
      `/fhir/${t}?patient=Patient/gen-1&_count=1`,
      `/fhir/${t}?date=ge2022-01-01&_sort=-date`,
    );
    for (const { coding } of codes)
      out.push(`/fhir/${t}?code=${encodeURIComponent(`${coding.system}|${coding.code}`)}`);
    for (const term of terms) out.push(`/fhir/${t}?code:text=${encodeURIComponent(term)}`);
  }
  // By value: a trough above 10 ng/mL means the regular-dose arm, so what a value search matches,
  // counts or sorts must not move either (refused without a code, 403 before and after alike).
  const gt10 = ['gt10', 'gt10|http://unitsofmeasure.org|ng/mL', 'ge0', 'lt100'];
  out.push('/fhir/Observation?value-quantity=gt10', '/fhir/Observation?value-quantity=gt10&_summary=count');
  const valueCodes = [{ system: 'http://loinc.org', code: '777-3' }, ...codes.map((c) => c.coding)];
  for (const coding of valueCodes) {
    const code = `code=${encodeURIComponent(`${coding.system}|${coding.code}`)}`;
    for (const v of gt10) {
      const vq = `value-quantity=${encodeURIComponent(v)}`;
      out.push(
        `/fhir/Observation?${code}&${vq}`,
        `/fhir/Observation?${code}&${vq}&_summary=count`,
        `/fhir/Observation?${code}&${vq}&_total=accurate&_count=1`,
        `/fhir/Observation?patient=Patient/gen-1&${code}&${vq}`,
        `POST /fhir/Observation/_search?${code}&${vq}&_total=accurate`,
      );
    }
    out.push(
      `/fhir/Observation?${code}&_sort=-value-quantity&_count=2`,
      `/fhir/Observation?${code}&combo-value-quantity=gt10&_summary=count`,
      `/fhir/Observation?${code}&component-value-quantity=gt10&_summary=count`,
    );
  }
  out.push(
    `/fhir/ResearchSubject/${subjectId}`,
    `/fhir/ResearchSubject/${subjectId}/_history`,
    `/fhir/ResearchSubject?_id=${subjectId}&_revinclude=Observation:research-subject`,
    '/fhir/Observation?patient=Patient/gen-1&_include=Observation:derived-from',
  );
  return out;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A GET, or `POST /fhir/T/_search?form`: the same query sent as a form body. */
async function answer(s: TestService, path: string): Promise<Answer> {
  const form = /^POST (\/fhir\/[A-Za-z]+\/_search)\?(.*)$/.exec(path);
  const r = form
    ? await s.call(form[1] as string, {
        method: 'POST',
        role: 'outcome-assessor',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form[2] as string,
      })
    : await s.call(path, { role: 'outcome-assessor' });
  const headers: Record<string, string> = {};
  for (const h of ['content-type', 'etag', 'last-modified', 'location', 'content-location']) {
    const v = r.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  return { status: r.status, headers, body: normalise(await r.text()) };
}

describe('generated blinding test: arm-revealing data sent every way leaves no trace for an outcome assessor', () => {
  let s: TestService;
  let subjectId: string;
  let studies: StudyDefinition[];
  let codes: { coding: Coding; measured: boolean }[];
  beforeAll(async () => {
    s = await startTestService();
    studies = await loadStudyDefinitions();
    codes = await revealingCodes(studies);
    subjectId = await enroll(s, 'gen-1', {
      birthDate: '2019-03-01',
      start: '2022-01-10',
      arm: 'regular-dose',
      identifier: MRN,
    });
    // Data the assessor does see, so that pages, totals and history have something to show.
    for (let i = 0; i < 4; i++) {
      const r = await s.call('/fhir/Observation', {
        method: 'POST',
        role: 'ehr-feed',
        body: JSON.stringify({
          ...obs({ system: 'http://loinc.org', code: '777-3' }, 90 + i),
          valueQuantity: { value: 90 + i, unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' },
        }),
      });
      expect(r.status).toBe(201);
    }
  });
  afterAll(async () => {
    await s.stop();
  });

  it('covers every arm-revealing measure of the study definition, by LOINC and by local code', () => {
    const systems = new Set(codes.map((c) => c.coding.system));
    expect(systems).toContain('http://loinc.org');
    expect(systems).toContain('urn:oid:1.2.156.112606.1.1.1');
    expect(ways(codes, studies).some((w) => w.name.startsWith('HL7 v2'))).toBe(true);
  });

  it('answers every read route exactly as if the data had never been sent', async () => {
    const terms = studies.flatMap((st) => st.armRevealing.terms);
    const paths = routes(subjectId, codes, terms);
    const before = new Map<string, Answer>();
    for (const p of paths) before.set(p, await answer(s, p));
    // The value routes are answered, not all refused: a total of the platelet counts shows through.
    const platelets = `/fhir/Observation?code=${encodeURIComponent('http://loinc.org|777-3')}&value-quantity=gt10&_summary=count`;
    expect(before.get(platelets)?.status).toBe(200);
    expect(before.get(platelets)?.body).toMatch(/"total":[1-9]/);
    const valueRoutes = paths.filter((p) => p.includes('value-quantity'));
    expect(valueRoutes.filter((p) => before.get(p)?.status === 200).length).toBeGreaterThan(valueRoutes.length / 2);
    const absent = await answer(s, `/fhir/Observation/${randomUUID()}`);

    const created: string[] = [];
    let value = 10.5;
    for (const way of ways(codes, studies)) {
      value += 0.37;
      const r = await way.send(s, Number(value.toFixed(2)));
      expect(r.status, `${way.name}: ${await r.clone().text()}`).toBeLessThan(300);
      const loc = r.headers.get('location');
      if (loc) created.push(loc.replace(/^.*\/fhir\//, '').replace(/\/_history\/.*$/, ''));
    }
    // What was sent was kept (admin sees it), so its absence for the assessor is masking's doing.
    const all = await (await s.call('/fhir/Observation?patient=Patient/gen-1&_count=200')).text();
    expect(all).toContain('"value":10.87');

    for (const p of paths) {
      const after = await answer(s, p);
      expect(after, p).toEqual(before.get(p));
    }
    for (const ref of created) {
      const [type, id] = ref.split('/') as [string, string];
      if (!READABLE.includes(type)) continue;
      for (const path of [`/fhir/${ref}`, `/fhir/${ref}/_history`, `/fhir/${ref}/_history/1`]) {
        const got = await answer(s, path);
        const expected = await answer(s, path.replace(id, 'never-stored-id'));
        expect({ ...got, body: got.body.replaceAll(id, 'X') }, path).toEqual({
          ...expected,
          body: expected.body.replaceAll('never-stored-id', 'X'),
        });
      }
      expect(absent.status).toBe(404);
    }
  });
});
