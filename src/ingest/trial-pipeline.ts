/**
 * The trial's write pipeline, registered with the FHIR engine at start-up (src/app/): the ingest
 * gate decides what an EHR feed's writes are kept for (route-result.ts), a kept result derives its
 * trial records (src/records/trial-records.ts) and marks its subjects' outcomes stale, a result
 * that is not kept is answered or withdrawn (not-kept.ts, withdraw.ts), and any write of an
 * enrollment, a birth date or a dose marks the subjects it concerns (outcome-marks.ts).
 */
import type { Resource } from '@medplum/fhirtypes';
import type {
  DerivedData,
  NotKeptWrite,
  WriteAnswer,
  WriteContext,
  WriteCount,
  WriteDecision,
  WriteGate,
  WritePipeline,
} from '../fhir/write-pipeline.ts';
import { TRIAL_RECORD_TAG } from '../mapping/trial-extensions.ts';
import type { Queryable } from '../store/db.ts';
import type { Intake, IntakeSession } from './intake.ts';
import { answerNotKept } from './not-kept.ts';
import { subjectsChangedBy } from './outcome-marks.ts';
import { isRoutedType, type RouteDecision } from './route-result.ts';
import { hasTrialRecords, mayWithdraw, retractTrialRecords } from './withdraw.ts';

/**
 * What the trial derives and no client may write: outcomes' Provenance, MeasureReports, Flags and
 * Groups entirely; of results, responses and adverse events, those with the ids the service derives
 * (records/trial-record.ts `tr-`, outcomes/outcome-resources.ts `oc-` and `pv-`,
 * outcomes/measure-reports.ts `mr-`, outcomes/trough-flag.ts `fl-`, outcomes/compute/safety.ts
 * `aes-`); and whatever carries the record-kind tag (trial-record, outcome, study-group).
 */
const TRIAL_DERIVED: DerivedData = {
  serviceOnlyTypes: new Set(['Provenance', 'MeasureReport', 'Flag', 'Group']),
  mixedTypes: new Set(['Observation', 'QuestionnaireResponse', 'AdverseEvent']),
  idPrefixes: ['tr-', 'oc-', 'pv-', 'mr-', 'fl-', 'aes-'],
  tagSystem: TRIAL_RECORD_TAG.system,
};

export function trialPipeline(intake: Intake): WritePipeline {
  return {
    session: () => trialGate(intake.session()),
    marksOf: subjectsChangedBy,
    derived: TRIAL_DERIVED,
  };
}

/** The gate of one request: the engine's view of an ingest session. */
export function trialGate(session: IntakeSession): WriteGate {
  return new TrialGate(session);
}

// The engine hands back the decisions this gate made: they are RouteDecisions.
const route = (d: WriteDecision): RouteDecision => d as RouteDecision;

class TrialGate implements WriteGate {
  readonly #session: IntakeSession;

  constructor(session: IntakeSession) {
    this.#session = session;
  }

  decides(type: string): boolean {
    return isRoutedType(type);
  }

  decidesLast(type: string): boolean {
    return type === 'DiagnosticReport';
  }

  decide(q: Queryable, resource: Resource, keptRefs?: ReadonlySet<string>): Promise<WriteDecision | undefined> {
    return this.#session.decide(q, resource, keptRefs);
  }

  mayWithdraw(decision: WriteDecision): boolean {
    const d = route(decision);
    return !d.retain && mayWithdraw(d);
  }

  notKept(ctx: WriteContext, q: Queryable, write: NotKeptWrite): Promise<WriteAnswer> {
    return answerNotKept(ctx, this.#session, q, write);
  }

  derive(resource: Resource, reference: string, decision: WriteDecision | undefined): Resource[] {
    return this.#session.trialRecords(resource, reference, decision && route(decision));
  }

  marks(decision: WriteDecision): readonly string[] {
    const d = route(decision);
    return d.retain ? d.enrollments.map((e) => e.researchSubjectId) : [];
  }

  count(outcome: WriteCount, type: string): void {
    this.#session.count(outcome, type);
  }

  labelStored<T extends Resource>(q: Queryable, resource: T, revealing?: ReadonlySet<string>): Promise<T> {
    return this.#session.labelStored(q, resource, revealing);
  }

  reveals(resource: Resource): boolean {
    return this.#session.reveals(resource);
  }

  retract(q: Queryable, baseUrl: string, type: string, id: string, content: string): Promise<string[] | undefined> {
    return retractTrialRecords(q, baseUrl, this.#session, type, id, content);
  }

  keptSource(q: Queryable, type: string, id: string, content: string): Promise<boolean> {
    return hasTrialRecords(q, this.#session, type, id, content);
  }
}
