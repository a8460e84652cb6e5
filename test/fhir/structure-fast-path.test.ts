/**
 * The quick structure pass may say "valid" only where @medplum/core's validateResource accepts the
 * resource: held over the public corpus in ../shared/corpus (the R4 examples, Synthea bundles,
 * Bulk Data NDJSON) and over every mutation of a set of seeds that a malformed feed could send
 * (each property removed, null, empty, of the wrong JSON type, wrapped or unwrapped as an array,
 * a primitive in a bad format, an unknown property beside it). It must also decide most of what
 * arrives, or it saves nothing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { validateResource } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { platelets } from '../../bench/fixtures/observation.ts';
import { loadFhirDefinitions } from '../../src/fhir/definitions.ts';
import { quickStructureCheck } from '../../src/fhir/structure-fast-path.ts';
import { CORPUS_DIR } from '../support/corpus.ts';

function files(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path, ext));
    else if (name.endsWith(ext)) out.push(path);
  }
  return out.sort();
}

function isResource(v: unknown): v is Resource {
  return typeof v === 'object' && v !== null && typeof (v as { resourceType?: unknown }).resourceType === 'string';
}

let corpus: Resource[] | undefined;

/**
 * Every resource of the R4 examples and the Bulk Data sample, and inside their Bundles; of each
 * Synthea bundle (thousands of resources, mostly claims), the first 150 of its entries.
 */
function corpusResources(): Resource[] {
  if (corpus) return corpus;
  const out: Resource[] = [];
  const add = (r: unknown, limit = Number.POSITIVE_INFINITY): void => {
    if (!isResource(r)) return;
    out.push(r);
    if (r.resourceType === 'Bundle') for (const e of (r.entry ?? []).slice(0, limit)) add(e.resource);
  };
  for (const f of files(join(CORPUS_DIR, 'fhir-examples'), '.json')) {
    if (f.endsWith('package.json')) continue;
    add(JSON.parse(readFileSync(f, 'utf8')));
  }
  for (const f of files(join(CORPUS_DIR, 'synthea'), '.json')) add(JSON.parse(readFileSync(f, 'utf8')), 150);
  for (const f of files(join(CORPUS_DIR, 'bulk-ndjson'), '.ndjson')) {
    for (const line of readFileSync(f, 'utf8').split('\n')) if (line.trim()) add(JSON.parse(line));
  }
  corpus = out;
  return out;
}

function medplumAccepts(r: unknown): boolean {
  try {
    validateResource(r as Resource);
    return true;
  } catch {
    return false;
  }
}

type Json = unknown;

/** Copies of `seed`, each with one change at one place of its JSON tree. */
function mutations(seed: Json): Json[] {
  const out: Json[] = [];
  const badStrings = ['', ' ', 'a  b', ' x', 'x ', 'not a date', '2021-02-30', '2021-13-01', '2021-03-01T25:00:00Z'];
  const visit = (node: Json, replace: (v: Json | typeof REMOVE) => Json): void => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) {
        visit(item, (v) =>
          replace(v === REMOVE ? node.filter((_, j) => j !== i) : node.map((x, j) => (j === i ? v : x))),
        );
      }
      out.push(replace([...node, null]), replace(node[0]));
      return;
    }
    if (typeof node === 'object' && node !== null) {
      const o = node as Record<string, Json>;
      for (const key of Object.keys(o)) {
        if (key === 'resourceType') continue;
        const set = (v: Json | typeof REMOVE): Json => {
          const copy = { ...o };
          if (v === REMOVE) delete copy[key];
          else copy[key] = v;
          return replace(copy);
        };
        visit(o[key], set);
        out.push(set(REMOVE), set(null), set({}), set([]), set([o[key]]), set(7), set(true), set('text'));
        out.push(replace({ ...o, [`_${key}`]: { extension: [] } }));
        // A second value of the same choice element, and a misspelt one.
        if (/[a-z][A-Z]/.test(key)) out.push(replace({ ...o, [key.replace(/[A-Z].*/, 'String')]: 'x' }));
      }
      // ext-1: an extension with neither a value nor extensions, wherever extensions may go.
      out.push(replace({ ...o, bogus: 1 }), replace({}), replace({ ...o, extension: [{ url: 'urn:x' }] }));
      return;
    }
    if (typeof node === 'string') for (const s of badStrings) out.push(replace(s));
    if (typeof node === 'number') out.push(replace(1.5), replace(-1), replace(0), replace(2 ** 31), replace(`${node}`));
    if (typeof node === 'boolean') out.push(replace('true'));
  };
  visit(seed, (v) => v);
  return out;
}
const REMOVE = Symbol('remove');

beforeAll(() => loadFhirDefinitions());

describe('quick structure pass', () => {
  it('never accepts what @medplum/core rejects, over the public corpus, and decides most of it', () => {
    // A Bundle that holds resources is left to @medplum/core (its entries are checked here one by one).
    for (const b of corpusResources().filter((r) => r.resourceType === 'Bundle')) {
      const quick = quickStructureCheck(b);
      if ((b as Bundle).entry?.some((e) => e.resource)) expect(quick).toBe('undecided');
      else if (quick === 'valid') expect(medplumAccepts(b)).toBe(true);
    }
    const resources = corpusResources().filter((r) => r.resourceType !== 'Bundle');
    expect(resources.length).toBeGreaterThan(3000);
    let valid = 0;
    let medplumValid = 0;
    const unsound: string[] = [];
    for (const r of resources) {
      const quick = quickStructureCheck(r);
      const accepted = medplumAccepts(r);
      if (accepted) medplumValid++;
      if (quick === 'valid') {
        valid++;
        if (!accepted) unsound.push(`${r.resourceType}/${r.id}`);
      }
      if (quick === 'invalid') expect(accepted, `${r.resourceType}/${r.id}`).toBe(false);
    }
    expect(unsound).toEqual([]);
    // Contained resources, primitive extensions and Bundles are left to @medplum/core; the rest is decided.
    expect(valid / medplumValid).toBeGreaterThan(0.8);
  }, 90_000);

  it('decides every Observation a lab feed sends (the bench fixture) as valid', () => {
    expect(quickStructureCheck(platelets(1, 'p1'))).toBe('valid');
  });

  it('never accepts a mutation @medplum/core rejects', () => {
    const corpus = corpusResources();
    const seeds: Json[] = [
      platelets(1, 'p1'),
      ...[
        'Observation',
        'Patient',
        'QuestionnaireResponse',
        'AdverseEvent',
        'DiagnosticReport',
        'ResearchSubject',
      ].flatMap((t) => corpus.filter((r) => r.resourceType === t && quickStructureCheck(r) === 'valid').slice(0, 3)),
    ];
    expect(seeds.length).toBeGreaterThan(12);
    let checked = 0;
    let rejected = 0;
    const unsound: string[] = [];
    for (const seed of seeds) {
      for (const m of mutations(seed)) {
        checked++;
        const accepted = medplumAccepts(m);
        if (!accepted) rejected++;
        if (quickStructureCheck(m as Resource) === 'valid' && !accepted) unsound.push(JSON.stringify(m).slice(0, 300));
      }
    }
    expect(unsound).toEqual([]);
    // The mutations must exercise rejection, not only acceptance.
    expect(checked).toBeGreaterThan(2000);
    expect(rejected).toBeGreaterThan(checked / 3);
  }, 90_000);

  it('says invalid for the commonest malformed results, and @medplum/core agrees', () => {
    const base = platelets(1, 'p1') as unknown as Record<string, unknown>;
    const cases: Record<string, unknown>[] = [
      { ...base, status: undefined },
      { ...base, status: null },
      { ...base, effectiveDateTime: '2021-02-30T10:00:00Z' },
      { ...base, valueQuantity: { value: '45', unit: '10*9/L' } },
      { ...base, subject: [{ reference: 'Patient/p1' }] },
      { ...base, identifier: { system: 'urn:x', value: '1' } },
      { ...base, dataAbsentReason: { text: 'not done' } }, // obs-6: a value and a reason it is absent
      { ...base, extension: [{ url: 'urn:x' }] }, // ext-1: neither a value nor extensions
      { ...base, referenceRange: [{ extension: [{ url: 'urn:x', valueString: 'x' }] }] }, // obs-3
      { ...base, unknownElement: 1 },
      { ...base, resourceType: 'NotAType' },
    ].map((c) => JSON.parse(JSON.stringify(c)));
    for (const c of cases) {
      expect(quickStructureCheck(c as unknown as Resource), JSON.stringify(c).slice(0, 120)).toBe('invalid');
      expect(medplumAccepts(c)).toBe(false);
    }
  });
});
