/**
 * The direct property walk used for plain search parameter paths must give exactly what fhirpath.js
 * gives, for every indexed parameter, over real resources: the public R4 examples (every type) and
 * Synthea bundles from ../shared/corpus.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { describe, expect, it } from 'vitest';
import { fastEvaluator } from '../../../src/fhir/search/fast-path.ts';
import { searchParamsFor } from '../../../src/fhir/search/search-params.ts';
import { CORPUS_DIR } from '../../support/corpus.ts';

const CORPUS = CORPUS_DIR;

function files(dir: string, limit: number): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      if (out.length >= limit) return;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.json') && name !== 'package.json') out.push(p);
    }
  };
  walk(dir);
  return out;
}

function resources(): Resource[] {
  const out: Resource[] = [];
  const add = (r: Resource | undefined): void => {
    if (!r?.resourceType) return;
    out.push(r);
    if (r.resourceType === 'Bundle') for (const e of (r as Bundle).entry ?? []) add(e.resource);
  };
  for (const f of [...files(join(CORPUS, 'fhir-examples'), 3000), ...files(join(CORPUS, 'synthea'), 12)]) {
    try {
      add(JSON.parse(readFileSync(f, 'utf8')) as Resource);
    } catch {
      // not a resource
    }
  }
  return out;
}

describe('search index fast path', () => {
  it('recognises plain paths, extension values, top-level choices and unions; leaves the rest to fhirpath.js', () => {
    expect(fastEvaluator('Observation.code')).toBeDefined();
    expect(fastEvaluator("Observation.extension('http://x').value")).toBeDefined();
    expect(fastEvaluator('Observation.subject.where(resolve() is Patient)')).toBeUndefined();
    expect(fastEvaluator('Observation.component.value')).toBeUndefined();
    expect(fastEvaluator('Observation.code | Observation.subject.where(resolve() is Patient)')).toBeUndefined();
    const effective = fastEvaluator('Observation.effective');
    const period = { start: '2022-01-01' };
    expect(effective?.({ resourceType: 'Observation', effectiveDateTime: '2022-01-02' })).toEqual(['2022-01-02']);
    expect(effective?.({ resourceType: 'Observation', effectivePeriod: period })).toEqual([period]);
    const quantity = fastEvaluator('Observation.value.ofType(Quantity)');
    expect(quantity?.({ resourceType: 'Observation', valueQuantity: { value: 1 } })).toEqual([{ value: 1 }]);
    expect(quantity?.({ resourceType: 'Observation', valueString: 'x' })).toEqual([]);
    const union = fastEvaluator('AuditEvent.agent.who | AuditEvent.entity.what');
    const who = { reference: 'Patient/1' };
    expect(
      union?.({
        resourceType: 'AuditEvent',
        agent: [{ who }],
        entity: [{ what: who }, { what: { reference: 'X/2' } }],
      }),
    ).toEqual([who, { reference: 'X/2' }]);
  });

  it('gives what fhirpath.js gives for every indexed parameter over the public corpus', () => {
    const all = resources();
    expect(all.length).toBeGreaterThan(1000);
    let compared = 0;
    for (const r of all) {
      for (const def of searchParamsFor(r.resourceType).values()) {
        if (!fastEvaluator(def.expression)) continue;
        const expected = fhirpath.evaluate(r as never, def.expression, undefined, r4);
        expect(def.evaluate(r), `${r.resourceType}/${r.id} ${def.code}`).toEqual(expected);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(5000);
  });
});
