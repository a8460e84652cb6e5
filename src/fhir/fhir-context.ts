/** What every FHIR interaction needs: the store, where it is served, and who is asking. */

import type { AccessContext } from '../auth/access-context.ts';
import type { Interaction } from '../auth/scopes.ts';
import type { IntakeSession } from '../ingest/intake.ts';
import type { Db } from '../store/db.ts';
import type { VersionWrite } from '../store/resource-store.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import type { ResourceValidator } from './validate.ts';

export interface FhirContext {
  db: Db;
  /** Absolute base of the FHIR API, e.g. http://127.0.0.1:8080/fhir (no trailing slash). */
  baseUrl: string;
  access: AccessContext | undefined;
  /** Throws a 403 OperationOutcomeError when the caller may not do this; called per Bundle entry too. */
  authorize(resourceType: string, interaction: Interaction): void;
  /** The same decision without throwing (e.g. whether to return a matched resource's body). */
  can(resourceType: string, interaction: Interaction): boolean;
  validator: ResourceValidator;
  /** The EHR-feed gate (src/ingest): set for callers whose writes are routed. */
  intake?: IntakeSession | undefined;
  /**
   * The same gate for every role, to look back at how a stored result was kept: a DELETE of a
   * source retracts its trial records whoever sends it (src/fhir/interactions/delete.ts). A
   * function, so that the requests that never delete (nearly all) do not build a session.
   */
  trialGate?: (() => IntakeSession) | undefined;
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
}
