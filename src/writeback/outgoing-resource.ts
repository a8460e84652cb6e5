/**
 * What is sent upstream is valid R4 JSON, checked before it is queued (and again before it is sent,
 * for a row whose body is read from the store or retried by an admin): no empty strings, objects or
 * arrays (FHIR R4 JSON §2.6.2: "empty … are not allowed"), which @medplum/core's validator lets
 * through inside complex types, then @medplum/core's base validation (through the quick first pass
 * of src/fhir/structure-fast-path.ts, which answers for most outcome resources). Profiles are not
 * applied: the EHR knows none of the trial's.
 */
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../fhir/definitions.ts';
import { quickStructureCheck } from '../fhir/structure-fast-path.ts';

/** The first empty string, object or array in a JSON value, as a path ("group[0].stratifier…"). */
export function emptyValuePath(value: unknown, path: string): string | undefined {
  if (value === '') return path;
  if (Array.isArray(value)) {
    if (value.length === 0) return path;
    for (let i = 0; i < value.length; i++) {
      const found = emptyValuePath(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    let any = false;
    for (const key in value) {
      any = true;
      const found = emptyValuePath((value as Record<string, unknown>)[key], `${path}.${key}`);
      if (found) return found;
    }
    return any ? undefined : path;
  }
  return undefined;
}

/** Why `resource` (as it will be sent) is not valid R4, or undefined when it is. */
export function outgoingProblem(resource: Resource): string | undefined {
  loadFhirDefinitions();
  const empty = emptyValuePath(resource, resource.resourceType ?? 'Resource');
  if (empty) return `${empty}: empty value`;
  if (quickStructureCheck(resource) === 'valid') return undefined;
  try {
    validateResource(resource);
    return undefined;
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return (err.outcome.issue ?? [])
      .map((i) => `${i.expression?.[0] ?? ''}: ${i.details?.text ?? i.diagnostics ?? i.code}`)
      .join('; ');
  }
}
