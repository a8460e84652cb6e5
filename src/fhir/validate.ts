/**
 * Validation of everything written: the base R4 definitions always, and a profile from profiles/
 * when the resource claims one in meta.profile (@medplum/core does not apply meta.profile itself).
 */
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcome, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { badRequest, fail, unprocessable, withId } from '../shared/outcomes.ts';
import { checkReferenceTargets } from './reference-targets.ts';
import { checkRequiredBindings } from './required-bindings.ts';
import { jsonShapeProblem, quickStructureCheck } from './structure-fast-path.ts';

export interface ProfileLookup {
  get(url: string): StructureDefinition | undefined;
}

export interface ResourceValidator {
  /** Throws OperationOutcomeError (422, or 400 for a structurally impossible body). */
  validate(resource: Resource): void;
}

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

function asUnprocessable(err: unknown): never {
  if (err instanceof OperationOutcomeError) {
    const outcome: OperationOutcome = withId(err.outcome, 'unprocessable');
    throw new OperationOutcomeError(outcome, err);
  }
  throw err;
}

/** A trial business rule checked on every write after structural validation; throws a 422. */
export type WriteRule = (resource: Resource) => void;

export function createValidator(profiles: ProfileLookup, rules: readonly WriteRule[] = []): ResourceValidator {
  return {
    validate(resource: Resource): void {
      if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
        fail(badRequest('Body must be a JSON object'));
      }
      if (typeof resource.resourceType !== 'string') fail(badRequest('Missing resourceType', 'resourceType'));
      // The quick pass answers for most results; @medplum/core decides everything else.
      if (quickStructureCheck(resource) !== 'valid') {
        // What @medplum/core would let through, or fail on, is refused here first.
        const shape = jsonShapeProblem(resource);
        if (shape) fail(unprocessable(shape.text, shape.expression));
        try {
          validateResource(resource);
        } catch (err) {
          asUnprocessable(err);
        }
      }
      checkRequiredBindings(resource);
      checkReferenceTargets(resource);
      for (const url of resource.meta?.profile ?? []) {
        const profile = profiles.get(url.split('|')[0] as string);
        if (!profile) continue;
        try {
          validateResource(resource, { profile });
        } catch (err) {
          asUnprocessable(err);
        }
      }
      for (const rule of rules) rule(resource);
    },
  };
}
