// Fixtures WRITTEN FOR THE TESTS (invented records; no real patient data).
// `patient` on Observation (and the other types where R4 defines it as another reference parameter
// restricted to Patient targets) has no index rows of its own: it is answered from `subject` (or
// Provenance `target`, ResearchSubject `individual`). Every answer below is the one the old separate
// `patient` rows gave: a reference to a Patient, or an absolute URL (whose type indexing cannot tell).
import { readFileSync } from 'node:fs';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractIndexRows } from '../../../src/fhir/search/index-values.ts';
import { searchParamsFor } from '../../../src/fhir/search/search-params.ts';
import { writeFirstVersions } from '../../../src/store/batch-write.ts';
import { startTestService, type TestService } from '../../support/test-service.ts';

const OTHER = 'http://other.example.org/fhir/Patient/elsewhere';

describe('patient answered from subject rows (issue 20)', () => {
  let s: TestService;
  let g1 = '';
  const put = async (body: Record<string, unknown>): Promise<void> => {
    const res = await s.call(`/fhir/${body.resourceType}/${body.id}`, { method: 'PUT', body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
  };
  /** Provenance is derived by the service (clients may not write it): written as the outcomes write theirs. */
  const derive = async (body: Record<string, unknown> & { resourceType: string; id: string }): Promise<void> => {
    const lastUpdated = new Date().toISOString();
    const stamped = { ...body, meta: { versionId: '1', lastUpdated } };
    await writeFirstVersions(s.testDb.db, [
      {
        resourceType: body.resourceType,
        id: body.id,
        versionId: 1,
        lastUpdated,
        method: 'POST',
        content: JSON.stringify(stamped),
        index: extractIndexRows(stamped as never, s.fhir),
      },
    ]);
  };
  const obs = (id: string, subject: string | undefined) => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
    ...(subject ? { subject: { reference: subject } } : {}),
    valueQuantity: { value: 12, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
  });

  beforeAll(async () => {
    s = await startTestService();
    await put({ resourceType: 'Patient', id: 'psa-p1' });
    await put({ resourceType: 'Patient', id: 'psa-p2' });
    // Clients may not write Groups: the study's own Group (derived when first read) is the subject.
    const groups = (await (await s.call('/fhir/Group?_count=1')).json()) as Bundle;
    g1 = groups.entry?.[0]?.resource?.id ?? '';
    expect(g1).not.toBe('');
    await put(obs('psa-o1', 'Patient/psa-p1'));
    await put(obs('psa-o2', 'Patient/psa-p2'));
    await put(obs('psa-o3', `Group/${g1}`));
    await put(obs('psa-o4', OTHER));
    await put(obs('psa-o5', undefined));
    await derive({
      resourceType: 'Provenance',
      id: 'psa-v1',
      target: [{ reference: 'Observation/psa-o1' }, { reference: 'Patient/psa-p1' }],
      recorded: '2026-01-01T00:00:00Z',
      agent: [{ who: { display: 'test' } }],
    });
    await derive({
      resourceType: 'Provenance',
      id: 'psa-v2',
      target: [{ reference: `Group/${g1}` }],
      recorded: '2026-01-01T00:00:00Z',
      agent: [{ who: { display: 'test' } }],
    });
    await put({
      resourceType: 'Encounter',
      id: 'psa-e1',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: 'Patient/psa-p2' },
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  const ids = async (query: string): Promise<string[]> => {
    const res = await s.call(`/fhir/${query}`);
    expect(res.status, await res.clone().text()).toBe(200);
    const b = (await res.json()) as Bundle;
    return (b.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`).sort();
  };

  it('writes no patient rows where patient is subject restricted to Patient, and knows which types those are', async () => {
    const r = await s.testDb.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM sp_reference WHERE param = 'patient' AND id LIKE 'psa-%'`,
    );
    expect(r.rows[0]?.n).toBe('0');
    const subject = await s.testDb.db.query<{ id: string }>(
      `SELECT id FROM sp_reference WHERE resource_type = 'Observation' AND param = 'subject' AND id LIKE 'psa-%' ORDER BY id`,
    );
    expect(subject.rows.map((x) => x.id)).toEqual(['psa-o1', 'psa-o2', 'psa-o3', 'psa-o4']);
    // The migration deleting the old rows names exactly the types whose patient is stored as another.
    const stored = [...new Set(Object.keys(TYPES).filter((t) => searchParamsFor(t).get('patient')?.storedAs))].sort();
    const sql = readFileSync(
      new URL('../../../src/store/migrations/0071_patient_stored_as_subject.sql', import.meta.url),
      'utf8',
    );
    const listed = [...(/IN \(([^)]*)\)/.exec(sql)?.[1] ?? '').matchAll(/'(\w+)'/g)].map((m) => m[1]).sort();
    expect(listed).toEqual(stored);
    // Run again on rows as the old code wrote them: only the repeated rows go.
    await s.testDb.db.query(`INSERT INTO sp_reference (resource_type, id, param, target) VALUES
      ('Observation', 'psa-o1', 'patient', 'Patient/psa-p1'), ('DetectedIssue', 'psa-d1', 'patient', 'Patient/psa-p1')`);
    await s.testDb.db.exec(sql);
    const left = await s.testDb.db.query<{ resource_type: string; id: string; param: string }>(
      `SELECT resource_type, id, param FROM sp_reference WHERE id IN ('psa-o1', 'psa-d1') ORDER BY 1, 3`,
    );
    expect(left.rows).toEqual([
      { resource_type: 'DetectedIssue', id: 'psa-d1', param: 'patient' },
      { resource_type: 'Observation', id: 'psa-o1', param: 'subject' },
    ]);
    await s.testDb.db.query(`DELETE FROM sp_reference WHERE id = 'psa-d1'`);
    expect(searchParamsFor('Observation').get('patient')?.storedAs).toEqual({ param: 'subject', targets: ['Patient'] });
    expect(searchParamsFor('Provenance').get('patient')?.storedAs).toEqual({ param: 'target', targets: ['Patient'] });
    expect(searchParamsFor('ResearchSubject').get('patient')?.storedAs?.param).toBe('individual');
    // AuditEvent's patient is agent.who | entity.what: no single parameter holds it.
    expect(searchParamsFor('AuditEvent').get('patient')?.storedAs).toBeUndefined();
  });

  it('patient= and subject= give the answers they gave with separate rows', async () => {
    expect(await ids('Observation?patient=psa-p1')).toEqual(['Observation/psa-o1']);
    expect(await ids('Observation?patient=Patient/psa-p1')).toEqual(['Observation/psa-o1']);
    expect(await ids(`Observation?patient=${s.fhir}/Patient/psa-p1`)).toEqual(['Observation/psa-o1']);
    expect(await ids('Observation?patient:Patient=psa-p2')).toEqual(['Observation/psa-o2']);
    expect(await ids('Observation?patient=psa-p1,psa-p2')).toEqual(['Observation/psa-o1', 'Observation/psa-o2']);
    // A Group subject is no patient: patient=Group/… finds nothing, subject=Group/… finds it.
    expect(await ids(`Observation?patient=Group/${g1}`)).toEqual([]);
    expect(await ids(`Observation?patient=${g1}`)).toEqual([]);
    expect(await ids(`Observation?subject=Group/${g1}`)).toEqual(['Observation/psa-o3']);
    expect(await ids(`Observation?subject:Group=${g1}`)).toEqual(['Observation/psa-o3']);
    expect(await ids('Observation?subject=psa-p1')).toEqual(['Observation/psa-o1']);
    // An absolute URL of another server: indexing kept it for both parameters.
    expect(await ids(`Observation?patient=${OTHER}`)).toEqual(['Observation/psa-o4']);
    expect(await ids(`Observation?subject=${OTHER}`)).toEqual(['Observation/psa-o4']);
    // :missing: the Group subject had no patient row, the Observation without subject neither.
    const all = [
      'Observation/psa-o1',
      'Observation/psa-o2',
      'Observation/psa-o3',
      'Observation/psa-o4',
      'Observation/psa-o5',
    ];
    const mine = (xs: string[]) => xs.filter((x) => all.includes(x));
    expect(mine(await ids('Observation?patient:missing=true&_count=1000'))).toEqual([
      'Observation/psa-o3',
      'Observation/psa-o5',
    ]);
    expect(mine(await ids('Observation?patient:missing=false&_count=1000'))).toEqual([
      'Observation/psa-o1',
      'Observation/psa-o2',
      'Observation/psa-o4',
    ]);
    expect(mine(await ids('Observation?subject:missing=true&_count=1000'))).toEqual(['Observation/psa-o5']);
    // Three repeats fold into one grouped condition (search-conditions.ts), read the same way.
    expect(await ids(`Observation?patient=psa-p1,psa-p2&patient=psa-p1,psa-p2,${g1}&patient=psa-p1,${g1}`)).toEqual([
      'Observation/psa-o1',
    ]);
    expect(await ids(`Observation?patient=${g1},psa-p1&patient=Group/${g1},psa-p1&patient=psa-p1`)).toEqual([
      'Observation/psa-o1',
    ]);
    // Combined with another parameter, and on other types.
    expect(await ids('Observation?patient=psa-p2&code=http://loinc.org|718-7')).toEqual(['Observation/psa-o2']);
    expect(await ids('Encounter?patient=psa-p2')).toEqual(['Encounter/psa-e1']);
    expect(await ids('Encounter?patient=psa-p1')).toEqual([]);
    expect(await ids('Provenance?patient=psa-p1')).toEqual(['Provenance/psa-v1']);
    expect(await ids(`Provenance?patient=Group/${g1}`)).toEqual([]);
    expect(await ids(`Provenance?target=Group/${g1}`)).toEqual(['Provenance/psa-v2']);
    expect(await ids('Provenance?target=Observation/psa-o1')).toEqual(['Provenance/psa-v1']);
  });

  it('_include and _revinclude through patient follow Patient targets only', async () => {
    expect(await ids('Observation?_id=psa-o1&_include=Observation:patient')).toEqual([
      'Observation/psa-o1',
      'Patient/psa-p1',
    ]);
    expect(await ids('Observation?_id=psa-o3&_include=Observation:patient')).toEqual(['Observation/psa-o3']);
    expect(await ids('Observation?_id=psa-o3&_include=Observation:subject')).toEqual([
      `Group/${g1}`,
      'Observation/psa-o3',
    ]);
    expect(await ids('Patient?_id=psa-p1&_revinclude=Observation:patient')).toEqual([
      'Observation/psa-o1',
      'Patient/psa-p1',
    ]);
    expect(await ids('Patient?_id=psa-p1&_revinclude=Provenance:patient')).toEqual([
      'Patient/psa-p1',
      'Provenance/psa-v1',
    ]);
    expect(await ids(`Group?_id=${g1}&_revinclude=Observation:patient`)).toEqual([`Group/${g1}`]);
    expect(await ids(`Group?_id=${g1}&_revinclude=Observation:subject`)).toEqual([`Group/${g1}`, 'Observation/psa-o3']);
    // :iterate from included Observations back to their patients.
    expect(
      await ids('Patient?_id=psa-p2&_revinclude=Observation:patient&_include:iterate=Observation:patient'),
    ).toEqual(['Observation/psa-o2', 'Patient/psa-p2']);
  });

  it('$everything still finds what names the patient through subject, patient or target', async () => {
    const everything = await ids('Patient/psa-p1/$everything');
    expect(everything).toEqual(['Observation/psa-o1', 'Patient/psa-p1', 'Provenance/psa-v1']);
    expect(await ids('Patient/psa-p2/$everything')).toEqual([
      'Encounter/psa-e1',
      'Observation/psa-o2',
      'Patient/psa-p2',
    ]);
  });
});

/** Every type with an index (the registry builds lazily per type). */
const TYPES: Record<string, true> = Object.fromEntries(
  [
    'AdverseEvent',
    'AuditEvent',
    'DetectedIssue',
    'DiagnosticReport',
    'Encounter',
    'Flag',
    'MeasureReport',
    'MedicationAdministration',
    'MedicationRequest',
    'MedicationStatement',
    'Observation',
    'Provenance',
    'QuestionnaireResponse',
    'ResearchSubject',
    'Specimen',
    'Patient',
    'Group',
  ].map((t) => [t, true]),
);
