/**
 * The one boundary between the FHIR engine and what the deployment adds to its writes. The engine
 * knows FHIR's rules; whether a write is kept at all, what else it derives, what it marks stale,
 * how it is labelled and what a write that is not kept answers belong to whoever registers a
 * `WritePipeline` at start-up (the trial: src/ingest/trial-pipeline.ts, wired in src/app/). With
 * none registered the engine is a plain FHIR server.
 */
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { AccessContext } from '../auth/access-context.ts';
import type { Db, Queryable } from '../store/db.ts';
import type { VersionWrite } from '../store/resource-store.ts';

/** What a write needs of its context, and what the gate is given of it (FhirContext extends it). */
export interface WriteContext {
  db: Db;
  /** Absolute base of the FHIR API, e.g. http://127.0.0.1:8080/fhir (no trailing slash). */
  baseUrl: string;
  access: AccessContext | undefined;
  /** The pipeline registered at start-up; none: plain FHIR writes. */
  pipeline?: WritePipeline | undefined;
  /**
   * The pipeline's gate for a caller whose every write it decides (an EHR feed); other callers'
   * writes go through a gate only when they write a kept source (src/fhir/interactions/update.ts).
   */
  gate?: WriteGate | undefined;
}

/** A write's answer as the gate gives it (a FhirResponse). */
export interface WriteAnswer {
  status: number;
  outcome?: OperationOutcome | undefined;
  /**
   * Set when the write was turned away and touched nothing (nothing stored, withdrawn or held): the
   * reason it is counted under. A single request so answered is counted in the audit trail's
   * periodic summary instead of leaving an AuditEvent of its own.
   */
  discarded?: string | undefined;
}

/** What a gate decided for one write. The engine reads only whether it is kept; the rest is the gate's. */
export interface WriteDecision {
  readonly retain: boolean;
}

/** How a decided write ended, for the gate's counts (the gate counts the writes it does not keep itself). */
export type WriteCount = 'retained' | 'duplicate' | 'rejected';

/**
 * The pipeline's gate for one request: it decides every write of the types it routes and derives
 * what a kept one brings with it. One per request, so that what it caches (a freshness check)
 * lasts no longer.
 */
export interface WriteGate {
  /** Whether writes of this type are decided at all; every other type is a plain FHIR write. */
  decides(type: string): boolean;
  /**
   * Whether this type is decided after the other entries of a transaction, on what they were
   * decided (the trial keeps a DiagnosticReport when it keeps one of its results).
   */
  decidesLast(type: string): boolean;
  /**
   * Undefined for types it does not decide. `keptRefs`: in a transaction, the fullUrls and
   * references of entries already kept, which a later entry may depend on.
   */
  decide(q: Queryable, resource: Resource, keptRefs?: ReadonlySet<string>): Promise<WriteDecision | undefined>;
  /**
   * Whether a write it does not keep may take a stored version away (so the engine must find out
   * whether one is stored); when not, the write is answered without a lookup.
   */
  mayWithdraw(decision: WriteDecision): boolean;
  /** The answer to a write it does not keep; it may withdraw a stored version (see NotKeptWrite). */
  notKept(ctx: WriteContext, q: Queryable, write: NotKeptWrite): Promise<WriteAnswer>;
  /** The extra writes a kept write derives (throws an OperationOutcomeError when it cannot: nothing is stored). */
  derive(resource: Resource, reference: string, decision: WriteDecision | undefined): Resource[];
  /** The marks (stale derived data) a kept write leaves, in the transaction that stores it. */
  marks(decision: WriteDecision): readonly string[];
  count(outcome: WriteCount, type: string): void;
  /** The resource as it is stored: with the security labels the pipeline attaches, whoever writes it. */
  labelStored<T extends Resource>(q: Queryable, resource: T, revealing?: ReadonlySet<string>): Promise<T>;
  /** Whether the pipeline labels this resource (a transaction labels what lists it alike). */
  reveals(resource: Resource): boolean;
  /**
   * A stored source is deleted: what was derived from it is retracted. Returns the marks, or
   * undefined when nothing was derived from it.
   */
  retract(q: Queryable, baseUrl: string, type: string, id: string, content: string): Promise<string[] | undefined>;
  /** Whether writes were derived from this stored source (its next versions go through the gate, whoever writes). */
  keptSource(q: Queryable, type: string, id: string, content: string): Promise<boolean>;
}

/** A write the gate does not keep, and what the engine knows of a stored version it may re-deliver. */
export interface NotKeptWrite {
  type: string;
  resource: Resource;
  decision: WriteDecision;
  /** The stored resource it writes (PUT); undefined for a create, whose stored version the gate looks up. */
  id?: string | undefined;
  /** Known not to be stored (or a new id): the gate answers without looking for a stored version. */
  storedAbsent: boolean;
}

/** What only the pipeline's own stages write: the engine refuses every client write of it (service-owned.ts). */
export interface DerivedData {
  /** Types no client writes at all. */
  serviceOnlyTypes: ReadonlySet<string>;
  /** Types a client writes too, in which some resources are derived. */
  mixedTypes: ReadonlySet<string>;
  /** Prefixes of the ids of derived resources of the mixed types: a client may not take one. */
  idPrefixes: readonly string[];
  /** The meta.tag system every derived resource is stored with, which no client resource may carry. */
  tagSystem: string;
}

/** What the trial side registers at start-up. */
export interface WritePipeline {
  /** A gate for one request (every write of a routed caller goes through it; others' when it is a kept source). */
  session(): WriteGate;
  /** The marks any write leaves whoever writes it (not only what the gate keeps), in the same transaction. */
  marksOf(
    q: Queryable,
    type: string,
    id: string,
    written: Resource | undefined,
    before?: string | null,
  ): Promise<string[]>;
  derived: DerivedData;
}

/**
 * How the caller of one interaction has planned its write beyond the FHIR request: set by the
 * bundle processor (which decides, looks up and collects a Bundle's entries together) and by the
 * single-POST route; an interaction given none decides and writes on its own.
 */
export interface WritePlan {
  /** Decided already (a transaction decides all its entries first): use this, do not decide again. */
  decided?: { decision: WriteDecision | undefined } | undefined;
  /** Known not to be stored (a Bundle checked all its not-kept entries in one query). */
  storedAbsent?: boolean | undefined;
  /**
   * Collect the writes and marks here instead of writing them (a transaction writes its plain
   * creates in one statement); the caller writes them before anything else reads the store.
   */
  defer?: { writes: VersionWrite[]; marks: string[] } | undefined;
  /**
   * Write without looking the identifier up first (one statement); the unique identifier index
   * turns a re-delivery into a unique violation, and the caller retries without this.
   */
  optimistic?: boolean | undefined;
}
