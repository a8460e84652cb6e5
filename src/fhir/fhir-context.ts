/** What every FHIR interaction needs: the store, where it is served, who is asking, and the write pipeline. */

import type { Interaction } from '../auth/scopes.ts';
import type { VersionWrite } from '../store/resource-store.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import type { ResourceValidator } from './validate.ts';
import type { WriteContext } from './write-pipeline.ts';

export interface FhirContext extends WriteContext {
  /** Throws a 403 OperationOutcomeError when the caller may not do this; called per Bundle entry too. */
  authorize(resourceType: string, interaction: Interaction): void;
  /** The same decision without throwing (e.g. whether to return a matched resource's body). */
  can(resourceType: string, interaction: Interaction): boolean;
  validator: ResourceValidator;
  /** Single-resource creates: an AuditEvent to commit in the same statement (see audit-trail.ts). */
  auditInline?: ((reference: string) => { write: VersionWrite; done(): void }) | undefined;
  /** How long one search's queries may run (src/store/time-budget.ts); unbounded when unset. */
  searchBudget?: import('../store/time-budget.ts').TimeBudget | undefined;
  /** How much one search may ask for (default DEFAULT_SEARCH_LIMITS). */
  searchLimits?: import('./search/parse-search.ts').SearchLimits | undefined;
  /**
   * Service-only types this context creates as the service itself (an HL7 v2 message's Provenance),
   * beyond what src/fhir/interactions/service-owned.ts lets a client write.
   */
  serviceCreates?: ReadonlySet<string> | undefined;
  /** A transaction Bundle: its AuditEvent (with what its entries read), to commit in the Bundle's own transaction. */
  auditBundle?: ((reads?: readonly AuditedAccess[]) => { write: VersionWrite; done(): void }) | undefined;
  /**
   * The caller's role now, which may differ from its token's (a role changed since it was issued);
   * undefined when the client was removed or disabled. Unset: the token's role.
   */
  currentRole?: (() => import('../auth/access-context.ts').Role | undefined) | undefined;
  /** Group commit for optimistic single creates outside a transaction (src/store/write-batcher.ts). */
  writeBatcher?: WriteBatcher | undefined;
}

/** A resource read or a query run, for the audit trail (src/auth/audit-event.ts AuditWhat). */
export interface AuditedAccess {
  reference?: string;
  type?: string;
  query?: string;
}

export interface FhirResponse {
  status: number;
  /** JSON text of the resource or Bundle to return. */
  body?: string | undefined;
  /** The OperationOutcome to return instead (errors, Prefer: return=OperationOutcome). */
  outcome?: import('@medplum/fhirtypes').OperationOutcome | undefined;
  location?: string | undefined;
  versionId?: number | undefined;
  lastUpdated?: string | undefined;
  /** A batch or transaction: the resources its entries read and the searches they ran. */
  audited?: readonly AuditedAccess[] | undefined;
  /** A write the gate turned away that touched nothing: why (see WriteAnswer.discarded). */
  discarded?: string | undefined;
}
