/**
 * The ingest gate the FHIR layer consults for writes pushed by an EHR feed: refresh who is
 * enrolled (one tiny read per request), then decide each result, and count the outcomes.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Counter } from 'prom-client';
import type { Queryable } from '../store/db.ts';
import type { EnrollmentIndex } from './enrollment-index.ts';
import { isRoutedType, type RouteDecision, routeResult } from './route-result.ts';
import type { RoutingTable } from './routing-table.ts';

export type IngestOutcome = 'retained' | 'duplicate' | 'not-enrolled' | 'not-relevant' | 'rejected' | 'dead-lettered';

export class Intake {
  readonly #index: EnrollmentIndex;
  readonly #table: RoutingTable;
  readonly #baseUrl: string;
  readonly #counter: Counter<'outcome' | 'resource_type'> | undefined;

  constructor(
    index: EnrollmentIndex,
    table: RoutingTable,
    baseUrl: string,
    counter?: Counter<'outcome' | 'resource_type'>,
  ) {
    this.#index = index;
    this.#table = table;
    this.#baseUrl = baseUrl;
    this.#counter = counter;
  }

  refresh(q: Queryable): Promise<void> {
    return this.#index.refresh(q);
  }

  /** Undefined for types the gate does not apply to (they are stored as any FHIR write). */
  route(resource: Resource): RouteDecision | undefined {
    if (!isRoutedType(resource.resourceType)) return undefined;
    const decision = routeResult(resource, this.#index, this.#table, this.#baseUrl);
    if (!decision.retain) this.count(decision.outcome, resource.resourceType);
    return decision;
  }

  count(outcome: IngestOutcome, resourceType: string): void {
    this.#counter?.inc({ outcome, resource_type: resourceType });
  }
}
