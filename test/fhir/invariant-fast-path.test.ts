/**
 * The compiled invariants must give fhirpath.js's verdict for every invariant and required element
 * in profiles/, over variants of a received result written for the tests (status, effective[x],
 * value[x] present, absent, of other types, or carried only by an extension) and the public R4
 * example Observations in ../shared/corpus.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Observation, Resource, StructureDefinition } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { describe, expect, it } from 'vitest';
import { platelets } from '../../bench/fixtures/observation.ts';
import { compileElementInvariant, compileInvariant } from '../../src/fhir/invariant-fast-path.ts';
import { CORPUS_DIR } from '../support/corpus.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CORPUS_EXAMPLES = join(CORPUS_DIR, 'fhir-examples');

interface Invariant {
  profile: string;
  type: string;
  expression: string;
}

function invariants(): Invariant[] {
  const out: Invariant[] = [];
  for (const f of readdirSync(join(ROOT, 'profiles')).filter((n) => n.startsWith('StructureDefinition-'))) {
    const sd = JSON.parse(readFileSync(join(ROOT, 'profiles', f), 'utf8')) as StructureDefinition;
    const type = sd.type ?? '';
    for (const el of sd.differential?.element ?? []) {
      const relative = (el.path ?? '').split('.').slice(1).join('.').replace('[x]', '');
      if (el.min && el.min > 0 && relative) out.push({ profile: f, type, expression: `${relative}.exists()` });
      for (const c of el.constraint ?? []) {
        if (c.expression && c.severity === 'error' && !relative)
          out.push({ profile: f, type, expression: c.expression });
      }
    }
  }
  return out;
}

function without<T extends object>(o: T, ...keys: string[]): T {
  const copy = { ...o } as Record<string, unknown>;
  for (const k of keys) delete copy[k];
  return copy as T;
}

/** WRITTEN FOR THE TESTS: a received result and its variants. */
function variants(): Resource[] {
  const base = platelets(1, 'p1');
  const noEffective = without(base, 'effectiveDateTime');
  const noValue = without(base, 'valueQuantity');
  const q = base.valueQuantity ?? {};
  const out: Observation[] = [
    base,
    without(base, 'status'),
    { ...base, status: 'unknown' },
    { ...base, status: 'entered-in-error' },
    { ...noValue, status: 'cancelled' },
    { ...noValue, status: 'entered-in-error' },
    { ...without(base, 'status'), _status: { extension: [{ url: 'http://x', valueString: 'y' }] } } as Observation,
    noEffective,
    { ...noEffective, effectivePeriod: { start: '2022-01-01' } },
    { ...noEffective, effectivePeriod: { end: '2022-01-01' } },
    { ...noEffective, effectiveInstant: '2022-01-01T00:00:00Z' },
    { ...noEffective, effectiveTiming: { event: ['2022-01-01'] } },
    { ...noEffective, _effectiveDateTime: { extension: [{ url: 'http://x', valueString: 'y' }] } } as Observation,
    noValue,
    { ...noValue, valueString: '45' },
    { ...noValue, valueCodeableConcept: { text: 'low' } },
    { ...noValue, valueQuantity: { value: 45 } },
    { ...noValue, valueQuantity: { value: 45, unit: '10*9/L' } },
    { ...noValue, valueQuantity: { value: 45, code: '10*9/L' } },
    { ...noValue, valueQuantity: { unit: '10*9/L', code: '10*9/L' } },
    { ...noValue, valueQuantity: { ...q, value: undefined, _value: { extension: [] } } } as Observation,
    { ...noValue, dataAbsentReason: { text: 'not done' } },
  ];
  return out;
}

function corpusObservations(): Resource[] {
  const out: Resource[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/^Observation-.*\.json$/.test(name)) {
        const r = JSON.parse(readFileSync(p, 'utf8')) as Resource;
        if (r.resourceType === 'Observation') out.push(r);
      }
    }
  };
  walk(CORPUS_EXAMPLES);
  return out;
}

function slowVerdict(expression: string, resource: Resource): boolean {
  try {
    const out = fhirpath.evaluate(resource as never, expression, undefined, r4) as unknown[];
    return out.length === 1 && out[0] === true;
  } catch {
    return false;
  }
}

describe('compiled profile invariants', () => {
  const all = invariants();

  it('compiles every invariant of the received-result profiles, so the hot path never falls back', () => {
    const received = all.filter((i) => i.profile.startsWith('StructureDefinition-measure-result-'));
    expect(received.length).toBeGreaterThan(40);
    for (const i of received) expect(compileInvariant(i.expression, i.type), i.expression).toBeDefined();
  });

  it('leaves what it does not compile to fhirpath.js', () => {
    expect(compileInvariant("individual.reference.startsWith('Patient/')", 'ResearchSubject')).toBeUndefined();
    expect(compileInvariant("code.coding.all(system = 'x')", 'Observation')).toBeUndefined();
    // where() is compiled only for nothing to filter: with codings, fhirpath.js decides.
    const where = compileInvariant("code.coding.where(system = 'x').exists()", 'Observation');
    expect(where?.(platelets(1, 'p1'))).toBeUndefined();
    expect(where?.({ ...platelets(1, 'p1'), code: { text: 'no codings' } })).toBe(false);
    expect(compileInvariant('value.ofType(Quantity).value > 1', 'Observation')).toBeUndefined();
    // A comparison of a non-string element with a string literal is not compiled either.
    expect(compileInvariant("effective.ofType(Period).start = '2022'", 'Observation')).toBeUndefined();
  });

  it('gives fhirpath.js’s verdict for every invariant in profiles/ over written variants and the R4 examples', () => {
    const resources = [...variants(), ...corpusObservations()];
    expect(resources.length).toBeGreaterThan(40);
    let compared = 0;
    let handedBack = 0;
    for (const i of all) {
      const fast = compileInvariant(i.expression, i.type);
      if (!fast) continue;
      for (const r of resources) {
        const verdict = fast(r);
        if (verdict === undefined) {
          handedBack += 1;
          continue;
        }
        expect(verdict, `${i.expression} on ${JSON.stringify(r).slice(0, 200)}`).toBe(slowVerdict(i.expression, r));
        compared += 1;
      }
    }
    expect(compared).toBeGreaterThan(1000);
    // The extension-only primitives above are handed back rather than guessed.
    expect(handedBack).toBeGreaterThan(0);
  }, 120_000);

  it('gives fhirpath.js’s verdict for the base R4 invariants the quick structure pass compiles', () => {
    // empty(), a comparison of two Boolean expressions, and steps through a contained resource,
    // whose type is known only at run time (decided when there is none, handed back otherwise).
    const base = [
      'contained.contained.empty()',
      'contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()',
      'dataAbsentReason.empty() or value.empty()',
      'extension.exists() != value.exists()',
      'extension.exists() = value.exists()',
      'value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()',
    ];
    const ext = (e: object) => ({ ...platelets(1, 'p1'), extension: [e] }) as Resource;
    const resources = [
      ...variants(),
      ...corpusObservations(),
      { ...platelets(1, 'p1'), contained: [{ resourceType: 'Patient', id: 'c1' }] } as Resource,
      // obs-7: a component coded like the Observation itself, beside a value (handed back).
      { ...platelets(1, 'p1'), component: [{ code: platelets(1, 'p1').code }] } as Resource,
      ext({ url: 'urn:x' }),
      ext({ url: 'urn:x', valueString: 'v' }),
      ext({ url: 'urn:x', extension: [{ url: 'urn:y', valueBoolean: true }] }),
      ext({ url: 'urn:x', valueString: 'v', extension: [{ url: 'urn:y', valueBoolean: true }] }),
    ];
    let compared = 0;
    let handedBack = 0;
    for (const expression of base) {
      const fast = compileInvariant(expression, 'Observation');
      expect(fast, expression).toBeDefined();
      for (const r of resources) {
        const verdict = fast?.(r);
        if (verdict === undefined) {
          handedBack += 1;
          continue;
        }
        expect(verdict, `${expression} on ${JSON.stringify(r).slice(0, 200)}`).toBe(slowVerdict(expression, r));
        compared += 1;
      }
    }
    // ext-1 on each extension, as the structure pass evaluates it (context: the Extension).
    const ext1 = compileElementInvariant('extension.exists() != value.exists()', 'Extension');
    for (const e of [
      { url: 'u' },
      { url: 'u', valueCode: 'c' },
      { url: 'u', extension: [{ url: 'v', valueCode: 'c' }] },
    ]) {
      const slow = fhirpath.evaluate(
        { resourceType: 'Extension', ...e } as never,
        'extension.exists() != value.exists()',
        undefined,
        r4,
      ) as unknown[];
      expect(ext1?.(e)).toBe(slow.length === 1 && slow[0] === true);
      compared += 1;
    }
    expect(compared).toBeGreaterThan(100);
    expect(handedBack).toBeGreaterThan(0); // the contained resource
  });
});
