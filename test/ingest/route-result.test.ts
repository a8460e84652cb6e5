import type { Observation, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch, splitUrl } from '../../src/fhir/dispatch.ts';
import type { FhirContext } from '../../src/fhir/fhir-context.ts';
import { createValidator } from '../../src/fhir/validate.ts';
import { EnrollmentIndex } from '../../src/ingest/enrollment-index.ts';
import { routeResult } from '../../src/ingest/route-result.ts';
import { RoutingTable } from '../../src/ingest/routing-table.ts';
import { loadConceptMaps } from '../../src/mapping/load-concept-maps.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { openTestDb, type TestDb } from '../support/test-db.ts';

const BASE = 'http://adapter.example/fhir';

describe('routing a hospital feed', () => {
  let t: TestDb;
  let index: EnrollmentIndex;
  let table: RoutingTable;
  let ctx: FhirContext;
  const put = (url: string, body: Resource) => {
    const { path, query } = splitUrl(url);
    return t.db.transaction((tx) => dispatch(ctx, tx, { method: 'PUT', path, query, body, strict: true }));
  };
  const subject = (id: string, patient: string, status: string) =>
    put(`ResearchSubject/${id}`, {
      resourceType: 'ResearchSubject',
      id,
      status: status as 'on-study',
      study: { reference: 'ResearchStudy/nct04775173' },
      individual: { reference: `Patient/${patient}` },
      assignedArm: 'low-dose',
      period: { start: '2022-01-10' },
    });

  beforeAll(async () => {
    t = await openTestDb();
    ctx = {
      db: t.db,
      baseUrl: BASE,
      access: undefined,
      authorize: () => undefined,
      can: () => true,
      validator: createValidator({ get: () => undefined }),
    };
    table = new RoutingTable(await loadStudyDefinitions(), await loadConceptMaps());
    index = new EnrollmentIndex();
    await put('Patient/p-on', {
      resourceType: 'Patient',
      id: 'p-on',
      identifier: [{ system: 'urn:mrn', value: 'MRN-ON' }],
    });
    await subject('rs-on', 'p-on', 'on-study');
    await subject('rs-screen', 'p-screen', 'screening');
    await subject('rs-out', 'p-withdrawn', 'withdrawn');
    await index.refresh(t.db);
  });
  afterAll(async () => {
    await t.drop();
  });

  const obs = (subjectRef: Observation['subject'], system: string, code: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system, code }] },
    subject: subjectRef,
  });
  const LOINC = 'http://loinc.org';

  it.each([
    ['relative reference, study code', obs({ reference: 'Patient/p-on' }, LOINC, '777-3'), 'retained'],
    ['absolute reference on this server', obs({ reference: `${BASE}/Patient/p-on` }, LOINC, '29247-4'), 'retained'],
    [
      'identifier instead of reference',
      obs({ identifier: { system: 'urn:mrn', value: 'MRN-ON' } }, LOINC, '3255-7'),
      'retained',
    ],
    ['screening subject (eligibility labs)', obs({ reference: 'Patient/p-screen' }, LOINC, '1742-6'), 'retained'],
    [
      'local code through the ConceptMap',
      obs({ reference: 'Patient/p-on' }, 'urn:oid:1.2.156.112606.1.1.1', 'RAPA'),
      'retained',
    ],
    ['withdrawn subject', obs({ reference: 'Patient/p-withdrawn' }, LOINC, '777-3'), 'not-enrolled'],
    ['unknown patient', obs({ reference: 'Patient/someone-else' }, LOINC, '777-3'), 'not-enrolled'],
    [
      'absolute reference to another server',
      obs({ reference: 'http://other.example/fhir/Patient/p-on' }, LOINC, '777-3'),
      'not-enrolled',
    ],
    ['unknown identifier', obs({ identifier: { system: 'urn:mrn', value: 'NOPE' } }, LOINC, '777-3'), 'not-enrolled'],
    ['no subject', obs(undefined, LOINC, '777-3'), 'not-enrolled'],
    ['enrolled, code no measure uses', obs({ reference: 'Patient/p-on' }, LOINC, '718-7'), 'not-relevant'],
    [
      'local code mapped to a non-study code',
      obs({ reference: 'Patient/p-on' }, 'urn:oid:1.2.156.112606.1.1.1', 'HGB'),
      'not-relevant',
    ],
  ])('%s: %s', (_name, resource, expected) => {
    const d = routeResult(resource, index, table, BASE);
    expect(d.retain ? 'retained' : d.outcome).toBe(expected);
  });

  it('names the measure and the enrollment it belongs to', () => {
    const d = routeResult(
      obs({ reference: 'Patient/p-on' }, 'urn:oid:1.2.156.112606.1.1.1', 'PLT'),
      index,
      table,
      BASE,
    );
    expect(d.retain && d.measures.map((m) => m.measureId)).toEqual(['platelets']);
    expect(d.retain && d.enrollments.map((e) => [e.researchSubjectId, e.assignedArm, e.start])).toEqual([
      ['rs-on', 'low-dose', '2022-01-10'],
    ]);
  });

  it('routes Patient pushes by id or identifier', () => {
    const p = (id: string, mrn?: string): Resource => ({
      resourceType: 'Patient',
      id,
      ...(mrn ? { identifier: [{ system: 'urn:mrn', value: mrn }] } : {}),
    });
    expect(routeResult(p('p-on'), index, table, BASE).retain).toBe(true);
    expect(routeResult(p('ehr-internal-id', 'MRN-ON'), index, table, BASE).retain).toBe(true);
    expect(routeResult(p('stranger', 'MRN-X'), index, table, BASE).retain).toBe(false);
  });

  it('sees a new enrollment at the next refresh, from any writer', async () => {
    expect(routeResult(obs({ reference: 'Patient/p-new' }, LOINC, '777-3'), index, table, BASE).retain).toBe(false);
    const before = index.version;
    await subject('rs-new', 'p-new', 'on-study');
    // A second index, as another service instance would hold, also moves on.
    const other = new EnrollmentIndex();
    await other.refresh(t.db);
    await index.refresh(t.db);
    expect(index.version).not.toBe(before);
    for (const i of [index, other]) {
      expect(routeResult(obs({ reference: 'Patient/p-new' }, LOINC, '777-3'), i, table, BASE).retain).toBe(true);
    }
    await subject('rs-new', 'p-new', 'withdrawn');
    await index.refresh(t.db);
    expect(routeResult(obs({ reference: 'Patient/p-new' }, LOINC, '777-3'), index, table, BASE).retain).toBe(false);
  });
});
