// Fixtures WRITTEN FOR THE TESTS (an invented platelet count).
import type { Observation, Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { parseElements, SUBSETTED, subsetResource, subsetText } from '../../../src/fhir/search/subsetting.ts';
import type { Subsetting } from '../../../src/shared/search-request.ts';

const platelets: Observation = {
  resourceType: 'Observation',
  id: 'o-1',
  meta: { versionId: '2', tag: [{ system: 'urn:test', code: 'keep-me' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">90</div>' },
  identifier: [{ system: 'urn:lab', value: 'L-1' }],
  status: 'final',
  _status: { extension: [{ url: 'urn:test:ext', valueString: 'x' }] },
  category: [{ text: 'laboratory' }],
  code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
  subject: { reference: 'Patient/p-1' },
  effectiveDateTime: '2022-02-09T08:00:00+08:00',
  valueQuantity: { value: 90, unit: '10*9/L' },
  note: [{ text: 'clumped' }],
  referenceRange: [{ text: '100-400' }],
} as Observation;

const elements = (...v: string[]): Subsetting => {
  const s = parseElements(v);
  if ('invalid' in s) throw new Error(s.invalid);
  return s;
};
const keys = (r: object) => Object.keys(r).sort();
const tagged = (r: Observation) => r.meta?.tag?.filter((t) => t.code === SUBSETTED.code).length;

describe('subsetting a resource (search.html#elements, #summary)', () => {
  it.each([
    // [what was asked, root properties kept]
    ['value', ['_status', 'code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']],
    [
      'effective,Observation.subject',
      ['_status', 'code', 'effectiveDateTime', 'id', 'meta', 'resourceType', 'status', 'subject'],
    ],
    ['Patient.gender', ['_status', 'code', 'id', 'meta', 'resourceType', 'status']],
    ['note,identifier', ['_status', 'code', 'id', 'identifier', 'meta', 'note', 'resourceType', 'status']],
  ])('_elements=%s keeps what was asked, the mandatory elements, id and meta', (asked, kept) => {
    const out = subsetResource(platelets, elements(asked));
    expect(keys(out)).toEqual(kept);
    expect(tagged(out)).toBe(1);
    expect(out.meta?.tag?.[0]).toEqual({ system: 'urn:test', code: 'keep-me' });
    expect(out.meta?.versionId).toBe('2');
  });

  it.each([
    [
      'summary',
      [
        '_status',
        'code',
        'effectiveDateTime',
        'id',
        'identifier',
        'meta',
        'resourceType',
        'status',
        'subject',
        'valueQuantity',
      ],
    ],
    ['text', ['_status', 'code', 'id', 'meta', 'resourceType', 'status', 'text']],
    [
      'data',
      [
        '_status',
        'category',
        'code',
        'effectiveDateTime',
        'id',
        'identifier',
        'meta',
        'note',
        'referenceRange',
        'resourceType',
        'status',
        'subject',
        'valueQuantity',
      ],
    ],
  ] as const)('_summary=%s', (kind, kept) => {
    const out = subsetResource(platelets, { kind });
    expect(keys(out)).toEqual(kept);
    expect(tagged(out)).toBe(1);
  });

  it('changes nothing, and adds no tag, when nothing is left out; never tags twice', () => {
    const minimal: Observation = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
    expect(subsetResource(minimal, elements('code'))).toBe(minimal);
    expect(subsetResource(platelets, { kind: 'data' }).text).toBeUndefined();
    const once = subsetResource(platelets, elements('code'));
    expect(tagged(subsetResource({ ...once, note: [{ text: 'n' }] }, elements('code')))).toBe(1);
    const text = JSON.stringify(minimal);
    expect(subsetText(text, elements('code'))).toBe(text);
  });

  it('keeps Patient elements per type and leaves a type it does not know alone', () => {
    const patient: Patient = { resourceType: 'Patient', id: 'p', gender: 'female', birthDate: '2021-01-01' };
    expect(keys(subsetResource(patient, elements('Patient.gender', 'Observation.code')))).toEqual([
      'gender',
      'id',
      'meta',
      'resourceType',
    ]);
    const odd = { resourceType: 'NotAType', id: 'x', a: 1 } as unknown as Patient;
    expect(subsetResource(odd, elements('id'))).toBe(odd);
  });

  it.each(['value.unit', 'Observation.', '1abc', 'Observation.value.unit', 'value[x]'])(
    'refuses %s: only root element names',
    (bad) => {
      expect(parseElements([bad])).toEqual({ invalid: bad });
    },
  );
});
