// What @medplum/core's validator lets through in a resource's JSON shape is refused before it runs:
// objects where a primitive belongs, and keys named like an object's inherited members. Found by the
// JSON-bodies property test: `{"text": {"valueOf": ""}}` answered 500, `{"text": {"toString": ""}}`,
// `{"text": {}}` and a Patient with a `toString` property were stored (201).
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platelets } from '../../bench/fixtures/observation.ts';
import { loadFhirDefinitions } from '../../src/fhir/definitions.ts';
import { jsonShapeProblem } from '../../src/fhir/structure-fast-path.ts';
import { createValidator } from '../../src/fhir/validate.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const validator = createValidator({ get: () => undefined });

/** The refusal's status, expression and text, or undefined when the resource is accepted. */
function refusal(resource: unknown): string | undefined {
  try {
    validator.validate(resource as Resource);
    return undefined;
  } catch (err) {
    const o = (err as { outcome?: { id?: string; issue?: { details?: { text?: string }; expression?: string[] }[] } })
      .outcome;
    if (!o) throw err;
    return `${o.id} ${o.issue?.[0]?.expression?.[0]}: ${o.issue?.[0]?.details?.text}`;
  }
}

const REFUSED: [string, unknown, string][] = [
  [
    'an object for a string',
    { resourceType: 'Patient', name: [{ text: {} }] },
    'unprocessable Patient.name[0].text: HumanName.text must be a JSON string, not an object',
  ],
  [
    'an object with an id for a string',
    { resourceType: 'Patient', name: [{ text: { id: 'x' } }] },
    'unprocessable Patient.name[0].text: HumanName.text must be a JSON string, not an object',
  ],
  [
    'valueOf for a string (was a 500)',
    { resourceType: 'Patient', name: [{ text: { valueOf: '' } }] },
    'unprocessable Patient.name[0].text: HumanName.text must be a JSON string, not an object',
  ],
  [
    'valueOf for a boolean (was a 500)',
    { resourceType: 'Patient', active: { valueOf: true } },
    'unprocessable Patient.active: Patient.active must be a JSON boolean, not an object',
  ],
  [
    'an object for a choice of string',
    { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: { hasOwnProperty: 'x' } },
    'unprocessable Observation.valueString: Observation.value[x] must be a JSON string, not an object',
  ],
  [
    'toString at the root',
    { resourceType: 'Patient', toString: 'x' },
    'unprocessable Patient.toString: Invalid property "toString"',
  ],
  [
    'constructor in a datatype',
    { resourceType: 'Patient', name: [{ constructor: 'x' }] },
    'unprocessable Patient.name[0].constructor: Invalid property "constructor"',
  ],
  [
    'an inherited name inside a primitive extension',
    { resourceType: 'Patient', _birthDate: { toString: 'x' } },
    'unprocessable Patient._birthDate.toString: Invalid property "toString"',
  ],
  [
    'an object for a string in a contained resource',
    {
      resourceType: 'Patient',
      contained: [{ resourceType: 'Practitioner', id: 'p', name: [{ family: { id: 'x' } }] }],
    },
    'unprocessable Patient.contained[0].name[0].family: HumanName.family must be a JSON string, not an object',
  ],
];

describe('JSON shapes @medplum/core lets through', () => {
  beforeAll(() => {
    loadFhirDefinitions();
  });

  it.each(REFUSED)('refuses %s with a 422 naming the element', (_name, resource, expected) => {
    expect(refusal(resource)).toBe(expected);
  });

  it('finds nothing in valid resources, primitive extensions and contained resources included', () => {
    for (const ok of [
      platelets(1, 'p1'),
      {
        resourceType: 'Patient',
        birthDate: '2020-01-01',
        _birthDate: { extension: [{ url: 'http://x', valueString: 'y' }] },
      },
      {
        resourceType: 'Patient',
        contained: [{ resourceType: 'Practitioner', id: 'p', name: [{ family: 'F' }] }],
        generalPractitioner: [{ reference: '#p' }],
      },
    ]) {
      expect(jsonShapeProblem(ok as Resource)).toBeUndefined();
      expect(refusal(ok)).toBeUndefined();
    }
  });
});

describe('through the service', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService();
  });
  afterAll(async () => {
    await s.stop();
  });

  it('answers 422 with an OperationOutcome and stores nothing', async () => {
    for (const [, resource] of REFUSED) {
      const type = (resource as { resourceType: string }).resourceType;
      const r = await s.call(`/fhir/${type}`, { method: 'POST', body: JSON.stringify(resource) });
      // The body parser refuses `constructor`, `__proto__` and `prototype` keys first (json-body.ts).
      expect(r.status).toBe(JSON.stringify(resource).includes('"constructor"') ? 400 : 422);
      expect(((await r.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
    const stored = await s.service.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM resources WHERE resource_type IN ('Patient', 'Observation')",
    );
    expect(stored.rows[0]?.n).toBe('0');
  });
});
