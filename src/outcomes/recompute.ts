/**
 * Incremental recomputation: take the subjects that ingest marked stale (in the same transaction as
 * the change), recompute each from its trial records, publish the differences, refresh the per-arm
 * MeasureReports, and delete the marks, all in one transaction per batch. A batch is read and
 * written in sets (a few statements whatever its size); only the computation is per subject. Instances share the work
 * through SKIP LOCKED and a per-subject advisory lock; nothing is held in memory between batches.
 */
import type {
  MeasureReport,
  MedicationRequest,
  MedicationStatement,
  Patient,
  Questionnaire,
  ResearchSubject,
  Resource,
} from '@medplum/fhirtypes';
import { prepareVersion } from '../fhir/interactions/write-version.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { misplacedRecords, withVisit } from '../records/replace-visits.ts';
import { eventLoopSlices } from '../shared/event-loop-slices.ts';
import type { Db, Queryable } from '../store/db.ts';
import { deferAggregates, studiesWithPendingAggregates, takePendingPair } from '../store/outcome-aggregate-pending.ts';
import { clearOutcomeFailures, recordOutcomeFailure } from '../store/outcome-failure-store.ts';
import { readFingerprints, storeFingerprints } from '../store/outcome-fingerprint-store.ts';
import { readChangedSubjectInputs } from '../store/outcome-inputs-if-changed.ts';
import {
  claimedSubjects,
  claimMarkedSubjects,
  claimStatement,
  readAggregates,
  readSubjectInputs,
  refreshAggregates,
  replaceSummaries,
  type StoredContent,
  type SubjectInputRows,
  type SummaryDelta,
  type SummaryKey,
  type SummaryRow,
} from '../store/outcome-store.ts';
import { preparing } from '../store/prepared.ts';
import { readCurrent, readMany, writeVersion } from '../store/resource-store.ts';
import { computeSubjectOutcomes, type SubjectOutcomes } from './compute-subject.ts';
import { definitionsFingerprint, OUTCOME_ID_PREFIXES } from './fingerprint.ts';
import { buildMeasureReports, emptiedMeasureReport, measureReportId } from './measure-reports.ts';
import type { OutcomeValue } from './outcome-value.ts';
import {
  type PlannedWrites,
  type PublishedVersion,
  type PublishResult,
  planOutcomes,
  publishedVersion,
  type SubjectPublication,
  writePlanned,
} from './publish.ts';
import { buildSubjectInputs } from './subject-inputs.ts';

const RECORD_TYPES = ['Observation', 'QuestionnaireResponse', 'AdverseEvent', 'Flag'];
const MEDICATION_TYPES = ['MedicationRequest', 'MedicationStatement'];
/** Statuses in which eligibility is still being established (ResearchSubject.status, R4). */
const SCREENING_STATUSES: ReadonlySet<string> = new Set(['candidate', 'potential-candidate', 'screening']);
type ExtraSummary = SubjectOutcomes['summary'][number];

/** What one statement-set read gives for one subject. */
interface Loaded {
  id: string;
  /** Undefined when the ResearchSubject is gone. */
  subject: ResearchSubject | undefined;
  versionId: number;
  records: StoredContent[];
  patient: Patient | undefined;
  medications: (MedicationRequest | MedicationStatement)[];
}

/** One subject computed, waiting for the batch's writes. */
interface Computed extends SubjectPublication {
  studyId: string;
  summary: SummaryRow[];
  /** Trial records moved to another visit by a treatment start change. */
  placed: string[];
  /** Set when the subject may still move from screening to eligible or ineligible. */
  /** The subject in screening, and the codes of the study's outcomes that decide its eligibility. */
  eligibility: { subject: ResearchSubject; versionId: number; codes: ReadonlySet<string> } | undefined;
}

export interface RecomputeReport {
  subjects: number;
  created: number;
  amended: number;
  retracted: number;
  unchanged: number;
  measureReports: number;
  /** How many resources were given a new version. */
  changedCount: number;
  /**
   * "Type/id" of the first CHANGED_SAMPLE of them: a sample, so that a drain's report stays the same
   * size however many subjects it recomputes (issue 20: memory flat in the number of subjects).
   */
  changed: string[];
  /** ResearchSubjects whose recomputation failed (recorded, retried later). */
  failed: string[];
}

/** Hook for the write-back outbox: called inside the publishing transaction with every new version. */
export type OnPublished = (q: Queryable, published: readonly PublishedVersion[]) => Promise<void>;

function summaryRows(
  studyId: string,
  subjectId: string,
  arm: string,
  values: readonly OutcomeValue[],
  extra: readonly ExtraSummary[],
): SummaryRow[] {
  const rows: SummaryRow[] = extra.map((e) => ({ studyId, researchSubjectId: subjectId, arm, ...e }));
  for (const v of values) {
    // Per-trough values are many per visit: the MeasureReports count subjects, not troughs.
    if (v.key !== undefined) continue;
    const base = { studyId, researchSubjectId: subjectId, arm, visit: v.visit, kind: v.code };
    if (v.result.kind === 'quantity') rows.push({ ...base, category: '', value: v.result.value });
    else if (v.result.kind === 'category') rows.push({ ...base, category: v.result.code, value: null });
    else rows.push({ ...base, category: 'not-evaluable', value: null });
  }
  return rows;
}

function emptyReport(): RecomputeReport {
  return {
    subjects: 0,
    created: 0,
    amended: 0,
    retracted: 0,
    unchanged: 0,
    measureReports: 0,
    changedCount: 0,
    changed: [],
    failed: [],
  };
}

function addReport(total: RecomputeReport, r: RecomputeReport): void {
  total.subjects += r.subjects;
  total.created += r.created;
  total.amended += r.amended;
  total.retracted += r.retracted;
  total.unchanged += r.unchanged;
  total.measureReports += r.measureReports;
  total.changedCount += r.changedCount;
  sampleChanged(total, r.changed);
  total.failed.push(...r.failed);
}

/** Resources whose "Type/id" a report lists at most (changedCount counts them all). */
const CHANGED_SAMPLE = 1_000;

/** Keeps the first CHANGED_SAMPLE of `keys` in the report's sample (not counted: callers count). */
function sampleChanged(report: RecomputeReport, keys: readonly string[]): void {
  const room = CHANGED_SAMPLE - report.changed.length;
  if (room > 0) report.changed.push(...(keys.length > room ? keys.slice(0, room) : keys));
}

/** Counts `keys` as changed and keeps them in the sample while it has room. */
function noteChanged(report: RecomputeReport, keys: readonly string[]): void {
  report.changedCount += keys.length;
  sampleChanged(report, keys);
}

/**
 * After a PGlite batch this long, the rest of the service runs until its statements have been quiet
 * for QUIET_MS, for at most MAX_YIELD_MS (see #recomputeMarked).
 */
const LONG_BATCH_MS = 50;
const QUIET_MS = 5;
const MAX_YIELD_MS = 50;
/** A batch's computation between two turns of the event loop, by default (ms). */
const DEFAULT_SLICE_MS = 10;
/**
 * Batches of at most this many subjects run prepared statements (src/store/prepared.ts) and read
 * their fingerprints and inputs in one statement (readChangedSubjectInputs).
 */
const FEW_SUBJECTS = 4;
/** The smallest adaptive batch (marks), and the first (see batchTargetMs). */
const MIN_ADAPTIVE_MARKS = 5;

/** Retry after a failed recomputation: 5 s doubling per attempt, at most an hour. */
export function outcomeRetryBackoff(attempts: number): number {
  return Math.min(3_600_000, 5_000 * 2 ** Math.max(0, attempts - 1));
}

export class OutcomeEngine {
  readonly #db: Db;
  readonly #baseUrl: string;
  readonly #studies: Map<string, StudyDefinition>;
  readonly #onPublished: OnPublished | undefined;
  readonly #questionnaires: Map<string, Questionnaire>;
  /** Today, for visit compliance (tests pin it). */
  readonly #today: () => string;
  readonly #retryBackoff: (attempts: number) => number;
  readonly #onBatchError: ((err: unknown) => void) | undefined;
  /** Hash of the study definitions, questionnaires and base URL (salts every subject's fingerprint). */
  readonly #definitions: string;
  /** Marks a batch takes by default, or at most when batches adapt (see the constructor). */
  readonly #batchMarks: number;
  readonly #batchTargetMs: number | undefined;
  /** The size of the next batch the caller does not size. */
  #adaptiveMarks: number;
  /** How long this instance's last batch took (ms). */
  #lastBatchMs = 0;
  /** Batches recomputed at once, each in its own transaction (see `drain`). */
  readonly #batchesAtOnce: number;
  /** How long a bulk recomputation may leave the MeasureReports behind (see `drain`). */
  readonly #reportLagMs: number;
  /** Groups left waiting are recounted one arm-visit pair per transaction, between batches. */
  readonly #recountByPair: boolean;
  /** How much computation a batch does between two turns of the event loop (ms). */
  readonly #sliceMs: number;
  /** When this instance last recounted MeasureReports, or decided to (ms since the epoch). */
  #reportsRefreshedAt = 0;
  /**
   * Some MeasureReport groups may be waiting for their recount: this instance left some, or it has
   * just started (another one, or its previous run, may have left some).
   */
  #pendingReports = true;

  constructor(
    db: Db,
    baseUrl: string,
    studies: readonly StudyDefinition[],
    options: {
      onPublished?: OnPublished;
      today?: () => string;
      questionnaires?: readonly Questionnaire[];
      /** How long a failed subject waits, by its number of failures (tests shorten it). */
      retryBackoff?: (attempts: number) => number;
      /** A batch failed and is retried subject by subject (logging). */
      onBatchError?: (err: unknown) => void;
      /**
       * Batches recomputed at once by `drain` and `recomputeSome`, each in its own transaction on its
       * own connection (default 1). Batches share marks as instances do (SKIP LOCKED, per-subject
       * locks), so the service computes one batch while PostgreSQL writes another and the server
       * writes two at once. PGlite has one connection: more than 1 gains nothing there.
       */
      batchesAtOnce?: number;
      /**
       * How long `drain` and `recomputeSome` may leave the MeasureReports behind while whole batches
       * of marks keep coming (default 30 s): such a batch leaves its groups' recount to a later one
       * (outcome_aggregate_pending) instead of recounting every summary row of its groups, which
       * made a bulk recomputation quadratic in the subjects. A batch that took fewer marks than it
       * could (the last of a drain, one subject after one result) recounts at once, as does the
       * end of every drain; 0 recounts in every batch.
       */
      measureReportLagMs?: number;
      /**
       * Marks a batch takes when the caller names no number (default 200). A batch is one
       * transaction: on PGlite every other statement of the service waits for it to end (start.ts).
       */
      batchMarks?: number;
      /**
       * When set (PGlite), batches the caller does not size adapt to take about this long: from
       * `firstBatchMarks`, doubled after a batch under half of it, halved after one over it, between
       * 5 and `batchMarks`. A first computation's batches stay near the target while a full pass with
       * nothing changed, whose subjects cost little, takes whole batches.
       */
      batchTargetMs?: number;
      /**
       * The first adaptive batch's marks (default 5, the floor): nothing is known yet of what a
       * subject costs, and a first batch of 25 held the embedded store 1.05-1.3 s at 10,000
       * subjects (50 ms a subject) against a 250 ms target.
       */
      firstBatchMarks?: number;
      /**
       * Whole batches always leave their MeasureReport groups waiting, and the groups waiting are
       * recounted one arm-visit pair per transaction between batches (when the lag has passed, and
       * when no marks are left); a batch that took fewer marks than it could applies its rows to
       * the groups not waiting and leaves the waiting ones to that recount. For PGlite, where a
       * recount of every group in one transaction held every request for 1-3 s at 10,000 subjects
       * (docs/performance.md).
       */
      recountByPair?: boolean;
      /**
       * Computation between two turns of the event loop, at most (ms, default 10): a batch's
       * computing and planning give way this often (tests: 0, every subject).
       */
      eventLoopSliceMs?: number;
    } = {},
  ) {
    this.#sliceMs = Math.max(0, options.eventLoopSliceMs ?? DEFAULT_SLICE_MS);
    this.#batchMarks = Math.max(1, Math.floor(options.batchMarks ?? 200));
    this.#batchTargetMs = options.batchTargetMs;
    this.#adaptiveMarks =
      options.batchTargetMs === undefined
        ? this.#batchMarks
        : Math.min(Math.max(MIN_ADAPTIVE_MARKS, options.firstBatchMarks ?? MIN_ADAPTIVE_MARKS), this.#batchMarks);
    this.#retryBackoff = options.retryBackoff ?? outcomeRetryBackoff;
    this.#onBatchError = options.onBatchError;
    this.#questionnaires = new Map((options.questionnaires ?? []).map((q) => [q.url as string, q]));
    this.#db = db;
    this.#baseUrl = baseUrl;
    this.#studies = new Map(studies.map((s) => [s.id, s]));
    this.#onPublished = options.onPublished;
    this.#today = options.today ?? (() => new Date().toISOString().slice(0, 10));
    this.#definitions = definitionsFingerprint(studies, options.questionnaires ?? [], baseUrl);
    this.#batchesAtOnce = Math.max(1, Math.floor(options.batchesAtOnce ?? 1));
    this.#reportLagMs = Math.max(0, options.measureReportLagMs ?? 30_000);
    this.#recountByPair = options.recountByPair ?? false;
  }

  /**
   * One batch of marked subjects; returns undefined when no marks were waiting. When the batch
   * fails it is taken again subject by subject, so that one subject whose recomputation fails is
   * recorded with its error and retried later, and never holds back the others (issue 17).
   */
  async recomputeMarked(batchMarks?: number): Promise<RecomputeReport | undefined> {
    return (await this.#recomputeMarked(batchMarks, false))?.report;
  }

  /**
   * `recomputeMarked`, with the number of marks the batch took. `mayDefer`: a batch that took a
   * full batch of marks (more are probably waiting) leaves its MeasureReport groups' recount to a
   * later batch, unless the reports have not been recounted for `measureReportLagMs`.
   */
  async #recomputeMarked(
    sized: number | undefined,
    mayDefer: boolean,
  ): Promise<{ report: RecomputeReport; marks: number; size: number } | undefined> {
    const batchMarks = sized ?? this.#adaptiveMarks;
    let deferred = false;
    // PGlite runs each statement synchronously in this thread and resolves it as a microtask, so a
    // drain's batches would follow one another without ever letting the event loop in: no request
    // read, no timer fired, for the whole recomputation (a read sent during a first computation of
    // 1,000 subjects was answered 31 s later, when it ended). Each batch first lets them run; after
    // a long PGlite batch until the store has been quiet for a moment, so that a request caught by
    // the batch runs all its statements (its read, then its AuditEvent) before the next one, each
    // of which would otherwise wait a whole batch (docs/performance.md).
    await this.#giveWay();
    const started = performance.now();
    let r: { report: RecomputeReport; marks: number } | undefined;
    try {
      // The claim goes with the BEGIN, in one round trip on PostgreSQL.
      r = await this.#db.transaction(
        async (tx, first) => {
          const claimed = first ? claimedSubjects(first) : await claimMarkedSubjects(tx, batchMarks);
          if (claimed.subjects.length === 0) return undefined;
          const whole = mayDefer && claimed.marks >= batchMarks;
          deferred = whole && (this.#recountByPair || this.#mayDeferReports());
          // A few subjects (one after one result): their statements are prepared once per connection.
          const q = claimed.subjects.length <= FEW_SUBJECTS ? preparing(tx) : tx;
          return { report: await this.#recompute(q, claimed.subjects, deferred), marks: claimed.marks };
        },
        { firstRead: claimStatement(batchMarks) },
      );
    } catch (err) {
      this.#onBatchError?.(err);
      const isolated = await this.#recomputeIsolated(batchMarks);
      return isolated ? { ...isolated, size: batchMarks } : undefined;
    }
    // Only once committed: a flush that started earlier did not see these groups.
    if (deferred) this.#pendingReports = true;
    this.#lastBatchMs = performance.now() - started;
    if (!r) return undefined;
    if (sized === undefined) this.#adapt(r.marks, batchMarks);
    // By pair: recounted between batches, a pair at a time, once the lag has passed.
    if (deferred && this.#recountByPair && Date.now() - this.#reportsRefreshedAt >= this.#reportLagMs)
      await this.#flushPendingReports(r.report);
    return { ...r, size: batchMarks };
  }

  /**
   * Lets the rest of the service run before the next transaction; after a long PGlite one until the
   * store has been quiet for a moment (see #recomputeMarked).
   */
  async #giveWay(): Promise<void> {
    if (this.#db.whenQuiet && this.#lastBatchMs >= LONG_BATCH_MS) await this.#db.whenQuiet(QUIET_MS, MAX_YIELD_MS);
    else await new Promise((resolve) => setImmediate(resolve));
  }

  /** The next unsized batch's size, from how long this full one took (see batchTargetMs). */
  #adapt(marks: number, size: number): void {
    const target = this.#batchTargetMs;
    // Only a full batch says how long such a batch takes.
    if (target === undefined || marks < size) return;
    if (this.#lastBatchMs < target / 2) this.#adaptiveMarks = Math.min(this.#batchMarks, size * 2);
    else if (this.#lastBatchMs > target)
      this.#adaptiveMarks = Math.max(Math.min(MIN_ADAPTIVE_MARKS, this.#batchMarks), Math.floor(size / 2));
  }

  /** Whether a batch may leave its MeasureReports' recount to a later one; if not, it is the one. */
  #mayDeferReports(): boolean {
    const now = Date.now();
    if (now - this.#reportsRefreshedAt < this.#reportLagMs) return true;
    // Taken now, so that the other lanes keep deferring while this batch recounts.
    this.#reportsRefreshedAt = now;
    return false;
  }

  /**
   * Recounts every MeasureReport group left waiting (by this instance or another), in one
   * transaction; its new MeasureReport versions are published like a batch's.
   */
  async #flushPendingReports(total: RecomputeReport): Promise<void> {
    this.#pendingReports = false;
    if (this.#recountByPair) return this.#flushByPair(total);
    // Usually none (another lane, or the last batch, took them): one statement, no transaction.
    if ((await studiesWithPendingAggregates(this.#db)).length === 0) return;
    await this.#db.transaction(async (tx) => {
      const published: PublishedVersion[] = [];
      // A study whose groups another flush took meanwhile recounts nothing (read after its lock).
      for (const studyId of (await studiesWithPendingAggregates(tx)).sort()) {
        published.push(...(await this.#refreshMeasureReports(tx, studyId, [])));
      }
      await this.#publishedReports(tx, total, published);
    });
  }

  /** MeasureReport versions a recount published: counted, and handed to the write-back hook. */
  async #publishedReports(tx: Queryable, total: RecomputeReport, published: PublishedVersion[]): Promise<void> {
    total.measureReports += published.length;
    noteChanged(
      total,
      published.map((r) => `MeasureReport/${r.id}`),
    );
    if (this.#onPublished && published.length > 0) await this.#onPublished(tx, published);
  }

  /** `#flushPendingReports`, one arm-visit pair per transaction, until no group waits. */
  async #flushByPair(total: RecomputeReport): Promise<void> {
    for (;;) {
      const studies = (await studiesWithPendingAggregates(this.#db)).sort();
      if (studies.length === 0) return;
      for (const studyId of studies) {
        await this.#giveWay();
        const started = performance.now();
        await this.#db.transaction(async (tx) => {
          await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`measure-reports:${studyId}`]);
          // Another lane may have taken the last ones meanwhile: then nothing is recounted.
          const keys = await takePendingPair(tx, studyId);
          if (keys.length === 0) return;
          const published = await this.#refreshMeasureReports(tx, studyId, [], undefined, keys, false);
          await this.#publishedReports(tx, total, published);
        });
        this.#lastBatchMs = performance.now() - started;
      }
    }
  }

  async #recomputeIsolated(batchMarks: number): Promise<{ report: RecomputeReport; marks: number } | undefined> {
    return this.#db.transaction(async (tx) => {
      const claimed = await claimMarkedSubjects(tx, batchMarks);
      if (claimed.subjects.length === 0) return undefined;
      const total = emptyReport();
      for (const id of claimed.subjects) {
        await tx.query('SAVEPOINT outcome_subject');
        try {
          addReport(total, await this.#recompute(tx, [id], false));
          await tx.query('RELEASE SAVEPOINT outcome_subject');
        } catch (err) {
          await tx.query('ROLLBACK TO SAVEPOINT outcome_subject');
          const message = err instanceof Error ? err.message : String(err);
          await recordOutcomeFailure(tx, id, message, this.#retryBackoff);
          total.failed.push(id);
        }
      }
      return { report: total, marks: claimed.marks };
    });
  }

  /**
   * Recompute until no marks are due (a full recomputation after markAllSubjects, or a test); the
   * marks of failed subjects wait for their retry. A batch that took fewer marks than it could found
   * none left to take, so its lane stops without another claim (one subject after one result is one
   * transaction); a batch that took a full batch opens another lane, up to `batchesAtOnce`.
   */
  async drain(batchMarks?: number): Promise<RecomputeReport> {
    const total = emptyReport();
    const lanes: Promise<void>[] = [];
    const lane = async (): Promise<void> => {
      for (;;) {
        const r = await this.#recomputeMarked(batchMarks, true);
        if (!r) return;
        addReport(total, r.report);
        if (r.marks < r.size) return;
        if (lanes.length < this.#batchesAtOnce) lanes.push(lane());
      }
    };
    lanes.push(lane());
    // Lanes are added while others run: wait until every lane started has ended.
    for (let done = 0; done < lanes.length; done++) await lanes[done];
    // No marks left: MeasureReport groups left by whole batches are recounted now.
    if (this.#pendingReports) await this.#flushPendingReports(total);
    return total;
  }

  /**
   * Up to `batchesAtOnce` batches at once (the background worker's step); undefined when no marks
   * were waiting.
   */
  async recomputeSome(batchMarks?: number): Promise<RecomputeReport | undefined> {
    const first = await this.#recomputeMarked(batchMarks, true);
    if (!first) {
      // Nothing to recompute: MeasureReport groups left by whole batches are recounted now.
      if (this.#pendingReports) await this.#flushPendingReports(emptyReport());
      return undefined;
    }
    const total = first.report;
    // Only a full batch says more marks may be waiting: then the other lanes join in.
    if (first.marks >= first.size && this.#batchesAtOnce > 1) {
      const more = await Promise.all(
        Array.from({ length: this.#batchesAtOnce }, () => this.#recomputeMarked(batchMarks, true)),
      );
      for (const r of more) if (r) addReport(total, r.report);
    }
    return total;
  }

  /**
   * One batch in sets: the inputs of every subject are read in a few statements, each subject is
   * computed on its own (a pure function of its inputs), and all outcomes are written together.
   */
  async #recompute(tx: Queryable, subjectIds: readonly string[], deferReports: boolean): Promise<RecomputeReport> {
    const report = emptyReport();
    // Every subject here was locked for recomputation by the claim that took its marks.
    const all = [...new Set(subjectIds)].sort();
    // A subject whose inputs are as at its last recomputation (same record versions, definitions and
    // day) would give the same outcomes: it is counted, not loaded. Taken after the lock, so another
    // instance's recomputation of it has committed; a change committed after this read leaves its
    // own mark, and the fingerprint kept is the one read here, so the next pass computes it.
    const scope = {
      recordTypes: RECORD_TYPES,
      outputIdPrefixes: OUTCOME_ID_PREFIXES,
      salt: `${this.#definitions}|${this.#today()}`,
    };
    // A few subjects (one after one result): fingerprints and the changed subjects' inputs in one
    // statement. A batch: fingerprints first, so that unchanged subjects' inputs are never read.
    const few =
      all.length <= FEW_SUBJECTS ? await readChangedSubjectInputs(tx, all, scope, MEDICATION_TYPES) : undefined;
    const fingerprints = few ? few.fingerprints : await readFingerprints(tx, all, scope);
    const current = new Map(fingerprints.map((f) => [f.researchSubjectId, f.fingerprint]));
    const ids: string[] = [];
    for (const f of fingerprints) {
      if (f.stored !== f.fingerprint) {
        ids.push(f.researchSubjectId);
        continue;
      }
      report.subjects++;
      report.unchanged += f.outcomes;
    }
    ids.sort();
    // A success clears the subject's recorded failure; the fingerprint read says whether it has one.
    await clearOutcomeFailures(
      tx,
      fingerprints.filter((f) => f.failed).map((f) => f.researchSubjectId),
    );
    if (ids.length === 0) return report;
    const loaded = this.#loaded(
      ids,
      few ? few.inputs : await readSubjectInputs(tx, ids, RECORD_TYPES, MEDICATION_TYPES),
    );
    // Computing and planning a batch does no I/O for up to a second (200 subjects on PostgreSQL):
    // the event loop gets a turn every few milliseconds of it, for the requests arriving meanwhile.
    const slice = eventLoopSlices(this.#sliceMs);
    const computed: Computed[] = [];
    for (const l of loaded) {
      await slice();
      computed.push(await this.#computeSubject(tx, l));
    }
    // The outcomes' versions are written with the MeasureReports they move, at the end.
    const writes: PlannedWrites = { firsts: [], updates: [] };
    const results = await planOutcomes(tx, this.#baseUrl, computed, writes, slice);
    const summaries: SummaryRow[] = [];
    const kept: { researchSubjectId: string; fingerprint: string; outcomes: number }[] = [];
    for (const [i, c] of computed.entries()) {
      const result = results[i] as PublishResult;
      result.changed.push(...c.placed);
      if (c.eligibility) {
        const { subject, versionId, codes } = c.eligibility;
        const moved = await this.#applyEligibility(tx, subject, versionId, codes, c.values);
        if (moved) result.changed.push(moved);
      }
      summaries.push(...c.summary);
      const id = ids[i] as string;
      kept.push({
        researchSubjectId: id,
        fingerprint: current.get(id) as string,
        outcomes: result.created + result.amended + result.unchanged,
      });
      report.subjects++;
      report.created += result.created;
      report.amended += result.amended;
      report.retracted += result.retracted;
      report.unchanged += result.unchanged;
      noteChanged(report, result.changed);
    }
    await storeFingerprints(tx, kept);
    // The removed and added rows of the groups (arm, visit, kind) whose rows changed: only their
    // counts can have moved, and they move by these rows (refreshAggregates).
    const deltas: SummaryDelta[] = [];
    await replaceSummaries(tx, ids, summaries, deltas);
    const byStudy = new Map<string, SummaryDelta[]>();
    for (const d of deltas) {
      const list = byStudy.get(d.studyId);
      if (list) list.push(d);
      else byStudy.set(d.studyId, [d]);
    }
    const published = results.flatMap((r) => r.published);
    for (const [studyId, changes] of [...byStudy].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (deferReports) {
        const groups = new Map(changes.map((d) => [`${d.arm}\u0000${d.visit}\u0000${d.kind}`, d]));
        await deferAggregates(
          tx,
          studyId,
          [...groups.values()].map((d) => ({ arm: d.arm, visit: d.visit, kind: d.kind })),
        );
        continue;
      }
      const reports = await this.#refreshMeasureReports(tx, studyId, changes, writes);
      report.measureReports += reports.length;
      noteChanged(
        report,
        reports.map((r) => `MeasureReport/${r.id}`),
      );
      published.push(...reports);
    }
    await writePlanned(tx, writes);
    if (this.#onPublished && published.length > 0) await this.#onPublished(tx, published);
    return report;
  }

  /** Every subject's ResearchSubject, trial records, Patient and medications, parsed. */
  #loaded(ids: readonly string[], rows: SubjectInputRows): Loaded[] {
    return ids.map((id) => {
      const row = rows.subjects.get(id);
      const subject = row ? (JSON.parse(row.content) as ResearchSubject) : undefined;
      // The individual as the ResearchSubject states it (the index holds it normalised).
      const ref = subject?.individual?.reference ?? '';
      const patientRef = ref.startsWith('Patient/') ? ref : '';
      const patient = rows.patients.get(patientRef)?.content;
      return {
        id,
        subject,
        versionId: row?.versionId ?? 1,
        records: rows.records.get(`ResearchSubject/${id}`) ?? [],
        patient: patient ? (JSON.parse(patient) as Patient) : undefined,
        medications: (rows.medications.get(patientRef) ?? []).map(
          (m) => JSON.parse(m.content) as MedicationRequest | MedicationStatement,
        ),
      };
    });
  }

  async #computeSubject(tx: Queryable, l: Loaded): Promise<Computed> {
    const studyId = l.subject?.study?.reference?.replace(/^ResearchStudy\//, '');
    const study = studyId ? this.#studies.get(studyId) : undefined;
    if (!l.subject || !study) {
      // The subject is gone (deleted, or its study is not served): its outcomes are retracted.
      const anyStudy = [...this.#studies.values()][0] as StudyDefinition;
      const inputs = buildSubjectInputs(
        anyStudy,
        {
          resourceType: 'ResearchSubject',
          id: l.id,
          status: 'withdrawn',
          study: {},
          individual: {},
        } as ResearchSubject,
        undefined,
        [],
        [],
      );
      return {
        studyId: studyId ?? anyStudy.id,
        inputs,
        values: [],
        flags: [],
        suggestions: [],
        stored: l.records,
        summary: [],
        placed: [],
        eligibility: undefined,
      };
    }
    const { moved: placed, resources } = await this.#replaceVisits(tx, study, l.subject, l.records);
    const inputs = buildSubjectInputs(study, l.subject, l.patient, resources, l.medications);
    const out = computeSubjectOutcomes(inputs, this.#today(), this.#questionnaires);
    const arm = l.subject.assignedArm ?? 'unassigned';
    return {
      studyId: study.id,
      inputs,
      values: out.values,
      flags: out.flags,
      suggestions: out.suggestions,
      stored: l.records,
      summary: summaryRows(study.id, l.id, arm, out.values, out.summary),
      placed,
      eligibility: {
        subject: l.subject,
        versionId: l.versionId,
        codes: new Set((study.outcomes ?? []).filter((o) => o.rule === 'eligibility').map((o) => o.id)),
      },
    };
  }

  /**
   * Trial records follow the treatment start: records placed before it was set (or before it was
   * corrected) move to the visit it now gives, as a new version. `records` is updated in place;
   * `resources` are the records parsed, as the outcomes read them.
   */
  async #replaceVisits(
    tx: Queryable,
    study: StudyDefinition,
    subject: ResearchSubject,
    records: StoredContent[],
  ): Promise<{ moved: string[]; resources: Resource[] }> {
    const start = subject.period?.start;
    const resources = records.map((r) => JSON.parse(r.content) as Resource);
    const moved: string[] = [];
    for (const { record } of misplacedRecords(resources, study, start)) {
      const i = resources.indexOf(record);
      const row = records[i] as StoredContent;
      // Locked and read again: ingest may be correcting the same record right now.
      const current = await readCurrent(tx, row.resourceType, row.id, true);
      if (!current?.content || current.deleted) continue;
      const [again] = misplacedRecords([JSON.parse(current.content) as Resource], study, start);
      if (!again) continue;
      const { write } = prepareVersion(
        this.#baseUrl,
        withVisit(again.record, again.visit),
        row.id,
        current.versionId + 1,
        'PUT',
      );
      await writeVersion(tx, write, false);
      records[i] = { ...row, versionId: current.versionId + 1, content: write.content as string };
      resources[i] = JSON.parse(write.content as string) as Resource;
      moved.push(`${row.resourceType}/${row.id}`);
    }
    return { moved, resources };
  }

  /**
   * A candidate or screening subject moves to eligible or ineligible once the criteria decide it
   * (registry inclusion criteria); never back, and never a subject already on study.
   */
  async #applyEligibility(
    tx: Queryable,
    subject: ResearchSubject,
    versionId: number,
    codes: ReadonlySet<string>,
    values: readonly OutcomeValue[],
  ): Promise<string | undefined> {
    if (!SCREENING_STATUSES.has(subject.status)) return undefined;
    // The study names its eligibility outcome (NCT04775173 `eligibility`, EVR-01 `eligible`).
    const e = values.find((v) => codes.has(v.code));
    const decided = e?.result.kind === 'category' ? e.result.code : undefined;
    if (decided !== 'eligible' && decided !== 'ineligible') return undefined;
    const { meta: _m, ...rest } = subject;
    const next = { ...rest, status: decided } as ResearchSubject;
    await writeVersion(
      tx,
      prepareVersion(this.#baseUrl, next, subject.id as string, versionId + 1, 'PUT').write,
      false,
    );
    return `ResearchSubject/${subject.id}`;
  }

  /**
   * `changes`: this batch's removed and added summary rows of the study (none: a flush of pending
   * groups). The new versions are added to `writes` when given (the batch writes them with its
   * outcomes), else written here.
   */
  async #refreshMeasureReports(
    tx: Queryable,
    studyId: string,
    changes: readonly SummaryDelta[],
    writes?: PlannedWrites,
    keys: readonly SummaryKey[] = [],
    lock = true,
  ): Promise<PublishedVersion[]> {
    if (lock) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`measure-reports:${studyId}`]);
    this.#reportsRefreshedAt = Date.now();
    // The groups brought up to date: those of these rows and `keys`, and those earlier batches left
    // waiting (by pair: those stay waiting, for #flushByPair). Also for a study not served (its
    // rows changed all the same): its counts must stay exact for the differences applied after,
    // should it be served again.
    const recounted = await refreshAggregates(tx, studyId, keys, changes, this.#recountByPair ? 'leave' : 'all');
    const study = this.#studies.get(studyId);
    if (!study || recounted.length === 0) return [];
    const pairs = [...new Map(recounted.map((g) => [`${g.arm}\u0000${g.visit}`, g])).values()];
    const date = new Date().toISOString();
    const built = buildMeasureReports(study, await readAggregates(tx, studyId, pairs), date);
    const existing = await readMany(
      tx,
      pairs.map((p) => ({ resourceType: 'MeasureReport', id: measureReportId(studyId, p.arm, p.visit) })),
    );
    const byId = new Map(existing.map((e) => [e.id, e]));
    const builtIds = new Set(built.map((r) => r.id));
    // A touched pair with no rows left keeps no stale counts: its report is counted over no one.
    const emptied = existing
      .filter((e) => e.content && !builtIds.has(e.id))
      .map((e) => emptiedMeasureReport(JSON.parse(e.content as string) as MeasureReport, date));
    const changed: PublishedVersion[] = [];
    const planned: PlannedWrites = writes ?? { firsts: [], updates: [] };
    for (const r of [...built, ...emptied]) {
      const old = byId.get(r.id as string);
      if (old?.content && sameReport(JSON.parse(old.content) as MeasureReport, r)) continue;
      const versionId = (old?.versionId ?? 0) + 1;
      const { write } = prepareVersion(this.#baseUrl, r, r.id as string, versionId, 'PUT');
      (versionId === 1 ? planned.firsts : planned.updates).push(write);
      changed.push(publishedVersion(JSON.parse(write.content as string) as MeasureReport, versionId, 'upsert'));
    }
    if (!writes) await writePlanned(tx, planned);
    return changed;
  }
}

/** The counts are what matter: a report whose groups are unchanged is not rewritten just for its date. */
function sameReport(a: MeasureReport, b: MeasureReport): boolean {
  return JSON.stringify(a.group ?? []) === JSON.stringify(b.group ?? []) && a.status === b.status;
}
