/**
 * A conditional create or update is a search whose answer (created, updated, 412) the caller sees.
 * For a caller that may not search the type (an EHR feed is write-only) that would be a search by
 * other means: `PUT Observation?code=…&value-quantity=sa10` answering 412 or 200/201 counts matches
 * (issue 17). Such a caller matches on its own business identifier only, exactly (system|value).
 */

import { fail, forbidden } from '../../shared/outcomes.ts';
import type { SearchRequest } from '../../shared/search-request.ts';
import type { FhirContext } from '../fhir-context.ts';

function exactIdentifier(value: string): boolean {
  const bar = value.indexOf('|');
  return bar > 0 && bar < value.length - 1;
}

export function refuseMatchBeyondIdentifier(ctx: FhirContext, type: string, search: SearchRequest): void {
  if (ctx.can(type, 'search')) return;
  const ok = search.filters.every(
    (f) =>
      f.code === 'identifier' && f.modifier === undefined && f.values.length === 1 && f.values.every(exactIdentifier),
  );
  if (!ok) {
    fail(
      forbidden(`A client that may not search ${type} may match a conditional write on identifier=system|value only`),
    );
  }
}
