/**
 * Checks a resource against what a constraint profile adds to its base: the raised cardinalities and
 * the invariants of its differential, compiled once with fhirpath.js. @medplum/core's full profile
 * validation re-walks the whole snapshot (about 1.5 ms per Observation, 35 times the base check);
 * for profiles whose only additions are in the differential, as this project's generated ones are,
 * checking the differential after the base validation gives the same verdict at a fraction of the cost.
 * The common invariants run as compiled JavaScript (invariant-fast-path.ts), the rest in fhirpath.js.
 */
import type { OperationOutcome, Resource, StructureDefinition } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { compileInvariant } from './invariant-fast-path.ts';

interface CompiledCheck {
  key: string;
  human: string;
  expression: string;
  test: (r: Resource) => boolean;
}

export interface ProfileCheck {
  url: string;
  /** Undefined when the resource conforms; otherwise a 422-ready OperationOutcome. */
  check(resource: Resource): OperationOutcome | undefined;
}

function compile(expression: string, resourceType: string): (r: Resource) => boolean {
  const fn = fhirpath.compile(expression, r4);
  const slow = (r: Resource): boolean => {
    const out = fn(r as never) as unknown[];
    // FHIRPath invariants hold when they evaluate to true; an empty result is not a pass.
    return out.length === 1 && out[0] === true;
  };
  const fast = compileInvariant(expression, resourceType);
  if (!fast) return slow;
  return (r) => fast(r) ?? slow(r);
}

export function compileProfileCheck(profile: StructureDefinition): ProfileCheck {
  const checks: CompiledCheck[] = [];
  for (const el of profile.differential?.element ?? []) {
    const path = el.path ?? '';
    const relative = path.split('.').slice(1).join('.').replace('[x]', '');
    if (el.min && el.min > 0 && relative) {
      const expression = `${relative}.exists()`;
      checks.push({
        key: `${path}-min`,
        human: `${path} is required`,
        expression,
        test: compile(expression, profile.type ?? ''),
      });
    }
    for (const c of el.constraint ?? []) {
      if (!c.expression || c.severity !== 'error') continue;
      // Invariants on the root apply to the resource; this project's profiles put them only there.
      if (relative) continue;
      checks.push({
        key: c.key ?? '?',
        human: c.human ?? c.key ?? '',
        expression: c.expression,
        test: compile(c.expression, profile.type ?? ''),
      });
    }
  }
  const url = profile.url ?? '';
  return {
    url,
    check(resource) {
      const failed = checks.filter((c) => {
        try {
          return !c.test(resource);
        } catch {
          return true;
        }
      });
      if (failed.length === 0) return undefined;
      return {
        resourceType: 'OperationOutcome',
        id: 'unprocessable',
        issue: failed.map((c) => ({
          severity: 'error',
          code: 'invariant',
          details: { text: `${resource.resourceType} does not conform to ${url}: ${c.human} (${c.key})` },
          diagnostics: c.expression,
        })),
      };
    },
  };
}
