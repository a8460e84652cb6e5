import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { platelets } from '../../bench/fixtures/observation.ts';
import { loadFhirDefinitions } from '../../src/fhir/definitions.ts';
import { quickStructureCheck } from '../../src/fhir/structure-fast-path.ts';
import { createValidator } from '../../src/fhir/validate.ts';

const validator = createValidator({ get: () => undefined });

function refusal(resource: Resource): string | undefined {
  try {
    validator.validate(resource);
    return undefined;
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: { details?: { text?: string }; expression?: string[] }[] } }).outcome;
    return `${outcome?.issue?.[0]?.expression?.[0]}: ${outcome?.issue?.[0]?.details?.text}`;
  }
}

describe('reference target types are checked against targetProfile, for every resource type', () => {
  beforeAll(() => {
    loadFhirDefinitions();
  });

  it('refuses an Observation whose subject is a Practitioner, on the fast path too', () => {
    const obs = { ...platelets(1, 'p1'), subject: { reference: 'Practitioner/x' } } as Resource;
    expect(quickStructureCheck(obs)).toBe('valid');
    expect(refusal(obs)).toMatch(/^Observation\.subject: .*Patient, Group, Device, Location, not Practitioner/);
    for (const ok of [
      'Patient/p1',
      'Group/g',
      'Device/d',
      'Location/l',
      'https://ehr.example/fhir/Patient/9/_history/2',
    ]) {
      expect(refusal({ ...obs, subject: { reference: ok } } as Resource)).toBeUndefined();
    }
  });

  it.each<[string, Resource, RegExp]>([
    [
      'a backbone element',
      {
        resourceType: 'Encounter',
        status: 'finished',
        class: { code: 'AMB' },
        participant: [{ individual: { reference: 'Observation/o' } }],
      } as Resource,
      /^Encounter\.participant\.individual: .*not Observation/,
    ],
    [
      'a datatype (Identifier.assigner)',
      { resourceType: 'Patient', identifier: [{ value: '1', assigner: { reference: 'Patient/x' } }] } as Resource,
      /^Identifier\.assigner: .*Organization, not Patient/,
    ],
    [
      'Reference.type',
      {
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/s' },
        individual: { type: 'Device', display: 'x' },
      } as Resource,
      /^ResearchSubject\.individual: .*Patient, not Device/,
    ],
    [
      'a contained resource',
      {
        resourceType: 'Patient',
        contained: [
          {
            resourceType: 'Observation',
            id: 'c',
            status: 'final',
            code: { text: 'x' },
            subject: { reference: 'Medication/m' },
          },
        ],
      } as Resource,
      /^Observation\.subject: .*not Medication/,
    ],
    [
      'a reference to a contained resource of the wrong type',
      {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        contained: [{ resourceType: 'Medication', id: 'm' }],
        subject: { reference: '#m' },
      } as Resource,
      /^Observation\.subject: .*not Medication/,
    ],
    [
      'a conditional reference',
      {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        subject: { reference: 'Practitioner?identifier=a|b' },
      } as Resource,
      /not Practitioner/,
    ],
  ])('checks %s', (_what, resource, expected) => {
    expect(refusal(resource)).toMatch(expected);
  });

  it('leaves alone what it cannot type, and elements that allow any resource', () => {
    const base = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
    for (const r of [
      { ...base, subject: { reference: 'urn:uuid:6b1c6f3e-6c59-4a6b-9a4f-0d1d3c9f7a11' } },
      { ...base, subject: { identifier: { value: 'mrn' } } },
      { ...base, focus: [{ reference: 'Practitioner/x' }] },
      { ...base, extension: [{ url: 'http://x', valueReference: { reference: 'Practitioner/x' } }] },
    ]) {
      expect(refusal(r as Resource)).toBeUndefined();
    }
  });
});
