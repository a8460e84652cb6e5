/**
 * The ingest gate the FHIR layer consults for writes pushed by an EHR feed, and the outcome counts.
 *
 * Freshness: the in-memory enrollment index is checked against the database's enrollment version
 * before any result is turned away, at most once per request (one tiny read per Bundle or POST),
 * so a subject enrolled through another instance a moment ago never loses a result. Results that
 * the current index already keeps skip the check: the hot retained path costs no extra round trip.
 * On a store only this process writes (PGlite, src/store/sole-writer.ts) the version is known in
 * process and checked before every decision, without a read.
 * Outside a transaction, the check is shared by the requests of one event-loop turn and also reads
 * whether the result's identifiers are stored (src/store/gate-probe.ts): a result turned away costs
 * a share of one statement instead of two round trips of its own.
 */
import type { Coding, DiagnosticReport, Resource } from '@medplum/fhirtypes';
import type { Counter } from 'prom-client';
import type { TrialRecordDeriver } from '../records/trial-records.ts';
import type { Queryable } from '../store/db.ts';
import type { GateProbe } from '../store/gate-probe.ts';
import type { IdentifierKey } from '../store/identifier-lookup.ts';
import { readMany } from '../store/resource-store.ts';
import { addArmRevealingLabel, hasLabel, reportResultRefs, withArmRevealingLabel } from './arm-revealing.ts';
import type { EnrollmentIndex } from './enrollment-index.ts';
import { isRoutedType, type RouteDecision, routeResult } from './route-result.ts';
import type { RoutingTable } from './routing-table.ts';

export type IngestOutcome = 'retained' | 'duplicate' | 'not-enrolled' | 'not-relevant' | 'rejected' | 'dead-lettered';

export class Intake {
  readonly #index: EnrollmentIndex;
  #table: RoutingTable;
  readonly baseUrl: string;
  readonly #counter: Counter<'outcome' | 'resource_type'> | undefined;
  readonly deriver: TrialRecordDeriver | undefined;
  /** The shared freshness and identifier read for writes outside a transaction (on probe.db). */
  readonly probe: GateProbe | undefined;

  constructor(
    index: EnrollmentIndex,
    table: RoutingTable,
    baseUrl: string,
    counter?: Counter<'outcome' | 'resource_type'>,
    deriver?: TrialRecordDeriver,
    probe?: GateProbe,
  ) {
    this.deriver = deriver;
    this.probe = probe;
    this.#index = index;
    this.#table = table;
    this.baseUrl = baseUrl;
    this.#counter = counter;
  }

  /** After mappings/ changed (dead-letter replay): route with the new codes from now on. */
  setRoutingTable(table: RoutingTable): void {
    this.#table = table;
  }

  /** A gate for one request: refreshes enrollment at most once. */
  session(): IntakeSession {
    return new IntakeSession(this);
  }

  refresh(q: Queryable): Promise<boolean> {
    const before = this.#index.version;
    return this.#index.refresh(q).then(() => this.#index.version !== before);
  }

  /** The version of the enrollments the index holds. */
  get indexVersion(): string {
    return this.#index.version;
  }

  /** The same with the version the probe read. */
  refreshTo(q: Queryable, version: string): Promise<boolean> {
    const before = this.#index.version;
    return this.#index.refreshTo(q, version).then(() => this.#index.version !== before);
  }

  route(resource: Resource): RouteDecision | undefined {
    if (!isRoutedType(resource.resourceType)) return undefined;
    return routeResult(resource, this.#index, this.#table, this.baseUrl);
  }

  count(outcome: IngestOutcome, resourceType: string): void {
    this.#counter?.inc({ outcome, resource_type: resourceType });
  }

  /** Whether a study measure uses one of these codes, whoever the patient is. */
  measures(codings: readonly Coding[] | undefined): boolean {
    return this.#table.measuresFor(codings).length > 0;
  }

  /** The resource as it is stored, labelled if it reveals the arm (src/ingest/arm-revealing.ts). */
  label<T extends Resource>(resource: T): T {
    return withArmRevealingLabel(resource, this.#table);
  }
}

/** The identifiers of an Observation the probe can look up (system and value both given). */
function observationKeys(resource: Resource): IdentifierKey[] {
  if (resource.resourceType !== 'Observation') return [];
  const keys: IdentifierKey[] = [];
  for (const i of (resource as { identifier?: { system?: unknown; value?: unknown }[] }).identifier ?? []) {
    if (typeof i.system === 'string' && typeof i.value === 'string') keys.push({ system: i.system, value: i.value });
  }
  return keys;
}

export class IntakeSession {
  readonly #intake: Intake;
  #checked = false;
  /** What the probe found of a resource's identifiers, read with the freshness check. */
  #looked: { resource: Resource; stored: string | undefined } | undefined;

  constructor(intake: Intake) {
    this.#intake = intake;
  }

  /**
   * Undefined for types the gate does not apply to (stored as any FHIR write). `retainedRefs`: in a
   * transaction, the fullUrls and references of entries already kept, which a DiagnosticReport's
   * results may point to.
   */
  async decide(
    q: Queryable,
    resource: Resource,
    retainedRefs?: ReadonlySet<string>,
  ): Promise<RouteDecision | undefined> {
    // A store only this process writes knows its enrollment version in process: checked before
    // every decision, kept or not, at no cost (src/store/sole-writer.ts).
    const local = q.soleWriter?.enrollmentVersion;
    if (local !== undefined && this.#intake.indexVersion !== local) await this.#intake.refreshTo(q, local);
    let decision = this.#intake.route(resource);
    if (decision && !decision.retain && !this.#checked) {
      this.#checked = true;
      if (await this.#refresh(q, resource)) decision = this.#intake.route(resource);
    }
    if (decision && !decision.retain && 'reportOf' in decision && decision.reportOf) {
      const enrollments = decision.reportOf;
      if (await this.#keepsAResult(q, resource as DiagnosticReport, retainedRefs)) {
        decision = { retain: true, enrollments, measures: [] };
      }
    }
    if (decision && !decision.retain) this.#intake.count(decision.outcome, resource.resourceType);
    return decision;
  }

  /** Whether the index moved; outside a transaction, through the shared probe (which looks the identifiers up too). */
  async #refresh(q: Queryable, resource: Resource): Promise<boolean> {
    const probe = this.#intake.probe;
    if (!probe || q !== probe.db) return this.#intake.refresh(q);
    const keys = observationKeys(resource);
    const r = await probe.probe(keys);
    if (keys.length > 0) this.#looked = { resource, stored: r.stored.values().next().value };
    return this.#intake.refreshTo(q, r.version);
  }

  /**
   * The stored Observation a result turned away re-delivers (same identifier), when the freshness
   * check looked it up already on `q`; undefined: not looked up.
   */
  lookedUp(q: Queryable, resource: Resource): { stored: string | undefined } | undefined {
    const looked = this.#looked;
    return looked && looked.resource === resource && q === this.#intake.probe?.db ? looked : undefined;
  }

  /**
   * How a stored version was routed when it came in: the enrollments and measures a correction that
   * leaves the trial must withdraw it from. Not counted: nothing new arrived.
   */
  async storedDecision(q: Queryable, stored: Resource): Promise<Extract<RouteDecision, { retain: true }> | undefined> {
    let decision = this.#intake.route(stored);
    if (decision && !decision.retain && 'reportOf' in decision && decision.reportOf) {
      if (await this.#keepsAResult(q, stored as DiagnosticReport)) {
        decision = { retain: true, enrollments: decision.reportOf, measures: [] };
      }
    }
    return decision?.retain ? decision : undefined;
  }

  /** A report is kept with its results: one of them is in this request's kept entries or in the store. */
  async #keepsAResult(q: Queryable, report: DiagnosticReport, retainedRefs?: ReadonlySet<string>): Promise<boolean> {
    const refs = (report.result ?? []).map((r) => r.reference).filter((r): r is string => typeof r === 'string');
    if (refs.some((r) => retainedRefs?.has(r))) return true;
    const base = `${this.#intake.baseUrl}/`;
    const ids = refs
      .map((r) => (r.startsWith(base) ? r.slice(base.length) : r))
      .filter((r) => /^Observation\/[A-Za-z0-9\-.]{1,64}$/.test(r))
      .map((r) => ({ resourceType: 'Observation', id: r.slice('Observation/'.length) }));
    if (ids.length === 0) return false;
    return (await readMany(q, ids)).length > 0;
  }

  count(outcome: IngestOutcome, resourceType: string): void {
    this.#intake.count(outcome, resourceType);
  }

  /** The resource as it is stored: labelled if it reveals the arm, whoever writes it. */
  label<T extends Resource>(resource: T): T {
    return this.#intake.label(resource);
  }

  reveals(resource: Resource): boolean {
    return hasLabel(this.label(resource));
  }

  /**
   * The same, with what only the store knows: a report listing a result that reveals the arm
   * (stored labelled, or `revealing`: the fullUrls and references of such entries in this
   * transaction) reveals it too, through its conclusion or its very list of results.
   */
  async labelStored<T extends Resource>(q: Queryable, resource: T, revealing?: ReadonlySet<string>): Promise<T> {
    const labelled = this.label(resource);
    if (hasLabel(labelled)) return labelled;
    const refs = reportResultRefs(resource);
    if (refs.length === 0) return labelled;
    if (refs.some((r) => revealing?.has(r))) return addArmRevealingLabel(labelled);
    const base = `${this.#intake.baseUrl}/`;
    const ids = refs
      .map((r) => (r.startsWith(base) ? r.slice(base.length) : r))
      .filter((r) => /^Observation\/[A-Za-z0-9\-.]{1,64}$/.test(r))
      .map((r) => ({ resourceType: 'Observation', id: r.slice('Observation/'.length) }));
    if (ids.length === 0) return labelled;
    const stored = await readMany(q, ids);
    const reveals = stored.some((v) => v.content && hasLabel(JSON.parse(v.content) as Resource));
    return reveals ? addArmRevealingLabel(labelled) : labelled;
  }

  /** The trial records a retained source yields (throws a 422 OperationOutcomeError if it cannot be normalised). */
  trialRecords(source: Resource, sourceRef: string, decision: RouteDecision | undefined): Resource[] {
    if (!decision?.retain || !this.#intake.deriver) return [];
    return this.#intake.deriver.derive(source, sourceRef, decision).map((r) => this.#intake.label(r));
  }
}
