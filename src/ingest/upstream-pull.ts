/**
 * Pulling enrolled subjects' results from upstream, for EHRs that do not push. Per subject: one
 * search for the study's codes since the subject's cursor (upstream meta.lastUpdated, persisted),
 * following next links, each result fed through the push path (upstream-feed.ts). The cursor moves
 * after each page, so an interrupted pull resumes; `ge` rather than `gt` re-reads the last instant,
 * so results sharing a timestamp are never missed, and those of that instant already fed (kept with
 * the cursor, by id and version) are skipped rather than fed again. A result that fails is
 * dead-lettered by the feed and the page goes on, so the cursor always moves past it.
 * Backfill on enrollment: the Patient (birth date, for age-based rules) and the results of the
 * screening/baseline window before treatment start.
 */
import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { COLLECTING_STATUSES } from '../records/enrollment.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import { listPullSubjects, type PullSubject, saveBackfill, savePullCursor } from '../store/upstream-pull-store.ts';
import type { UpstreamClient } from '../writeback/upstream-client.ts';
import type { UpstreamFeed } from './upstream-feed.ts';

export interface PullSummary {
  subjects: number;
  pages: number;
  fed: number;
  /** Results at the cursor's own instant that an earlier pull fed already: read again, not fed. */
  alreadyFed: number;
  /** Results the adapter refused (validation, units…) or could not store: logged and dead-lettered. */
  refused: number;
  /** Dead letters those became, for an admin to replay (`/admin/dead-letters`). */
  deadLettered: string[];
  errors: string[];
}

export interface UpstreamPullOptions {
  db: Db;
  upstream: UpstreamClient;
  feed: UpstreamFeed;
  studies: readonly StudyDefinition[];
  logger: Logger;
  pageSize: number;
  /** A safety bound on next links per subject and run. */
  maxPages?: number;
  /** Results of one page fed at once (each its own transaction, like concurrent pushes). */
  feedConcurrency?: number;
}

const DAY = 86_400_000;

/** The earliest day any visit window opens (screening/baseline, negative) relative to treatment start. */
function windowStartDay(study: StudyDefinition | undefined): number {
  return Math.min(0, ...(study?.visits.map((v) => v.earliestDay) ?? [0]));
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function lastUpdatedOf(r: Resource): string | undefined {
  return (r as Observation).meta?.lastUpdated;
}

/** A result as fed: a new upstream version is a new key, even at the same instant. */
function feedKey(r: Resource): string {
  return `${r.resourceType}/${r.id ?? ''}/${r.meta?.versionId ?? ''}`;
}

export class UpstreamPull {
  readonly #o: UpstreamPullOptions;

  constructor(options: UpstreamPullOptions) {
    this.#o = options;
  }

  #study(id: string): StudyDefinition | undefined {
    return this.#o.studies.find((s) => s.id === id);
  }

  #codes(study: StudyDefinition | undefined): string {
    const codes = new Set<string>();
    for (const m of study?.measures ?? []) for (const c of m.codes) codes.add(`${c.system}|${c.code}`);
    return [...codes].join(',');
  }

  /** Treatment start (or today when not yet known), as epoch ms at 00:00 UTC. */
  #start(s: PullSubject): number {
    const start = s.start ? Date.parse(s.start.slice(0, 10)) : Number.NaN;
    return Number.isNaN(start) ? Date.parse(isoDate(Date.now())) : start;
  }

  async subjects(): Promise<PullSubject[]> {
    return listPullSubjects(this.#o.db, [...COLLECTING_STATUSES]);
  }

  /** Backfills every enrolled subject not yet backfilled. */
  async backfillPending(signal?: AbortSignal): Promise<PullSummary> {
    const summary = this.#summary();
    for (const s of await this.subjects()) {
      if (signal?.aborted) break;
      if (s.backfilledAt) continue;
      summary.subjects += 1;
      try {
        await this.backfill(s, summary);
      } catch (err) {
        summary.errors.push(`${s.researchSubjectId}: ${(err as Error).message}`);
      }
    }
    return summary;
  }

  async backfill(s: PullSubject, summary: PullSummary = this.#summary()): Promise<PullSummary> {
    const patient = await this.#o.upstream.get(`Patient/${encodeURIComponent(s.patientId)}`);
    await this.#feed(patient, summary);
    const study = this.#study(s.studyId);
    const start = this.#start(s);
    const params = new URLSearchParams({
      subject: `Patient/${s.patientId}`,
      code: this.#codes(study),
      _count: String(this.#o.pageSize),
    });
    params.append('date', `ge${isoDate(start + windowStartDay(study) * DAY)}`);
    params.append('date', `lt${isoDate(start + DAY)}`);
    await this.#pages(`Observation?${params}`, summary, async () => {});
    await saveBackfill(this.#o.db, s.researchSubjectId, s.patientId);
    this.#o.logger.info('backfilled from upstream', { researchSubject: s.researchSubjectId, fed: summary.fed });
    return summary;
  }

  /** Incremental pull for every enrolled subject. */
  async pullAll(signal?: AbortSignal): Promise<PullSummary> {
    const summary = this.#summary();
    for (const s of await this.subjects()) {
      if (signal?.aborted) break;
      summary.subjects += 1;
      try {
        await this.pullSubject(s, summary);
      } catch (err) {
        const message = (err as Error).message;
        summary.errors.push(`${s.researchSubjectId}: ${message}`);
        await savePullCursor(this.#o.db, s.researchSubjectId, s.patientId, null, message);
      }
    }
    if (summary.errors.length > 0) this.#o.logger.warn('upstream pull incomplete', { errors: summary.errors.length });
    return summary;
  }

  async pullSubject(s: PullSubject, summary: PullSummary = this.#summary()): Promise<PullSummary> {
    const study = this.#study(s.studyId);
    const params = new URLSearchParams({
      subject: `Patient/${s.patientId}`,
      code: this.#codes(study),
      _sort: '_lastUpdated',
      _count: String(this.#o.pageSize),
    });
    params.append('date', `ge${isoDate(this.#start(s) + windowStartDay(study) * DAY)}`);
    if (s.lastUpdated) params.append('_lastUpdated', `ge${s.lastUpdated}`);
    const fedBefore = s.lastUpdated ? { at: Date.parse(s.lastUpdated), keys: new Set(s.seenAtCursor) } : undefined;
    await this.#pages(
      `Observation?${params}`,
      summary,
      async (cursor, atCursor) => {
        await savePullCursor(this.#o.db, s.researchSubjectId, s.patientId, cursor, null, atCursor);
      },
      (r) =>
        fedBefore !== undefined &&
        Date.parse(lastUpdatedOf(r) ?? '') === fedBefore.at &&
        fedBefore.keys.has(feedKey(r)),
    );
    return summary;
  }

  async #pages(
    first: string,
    summary: PullSummary,
    afterPage: (cursor: string | null, atCursor: string[]) => Promise<void>,
    fedAlready: (r: Resource) => boolean = () => false,
  ): Promise<void> {
    let url: string | undefined = first;
    let pages = 0;
    while (url && pages < (this.#o.maxPages ?? 1000)) {
      const bundle: Bundle = await this.#o.upstream.get<Bundle>(url);
      pages += 1;
      summary.pages += 1;
      let cursor: string | null = null;
      const resources: Resource[] = [];
      const read: Resource[] = [];
      for (const entry of bundle.entry ?? []) {
        const r = entry.resource;
        if (!r || entry.search?.mode === 'outcome' || r.resourceType === 'OperationOutcome') continue;
        read.push(r);
        const lu = lastUpdatedOf(r);
        if (lu && (cursor === null || Date.parse(lu) > Date.parse(cursor))) cursor = lu;
        if (fedAlready(r)) summary.alreadyFed += 1;
        else resources.push(r);
      }
      const at = cursor === null ? Number.NaN : Date.parse(cursor);
      const atCursor = read.filter((r) => Date.parse(lastUpdatedOf(r) ?? '') === at).map(feedKey);
      let next = 0;
      const lane = async (): Promise<void> => {
        for (let r = resources[next++]; r; r = resources[next++]) await this.#feed(r, summary);
      };
      await Promise.all(Array.from({ length: Math.max(1, this.#o.feedConcurrency ?? 4) }, lane));
      // The cursor moves only once the whole page is stored.
      await afterPage(cursor, atCursor);
      url = bundle.link?.find((l) => l.relation === 'next')?.url;
    }
  }

  async #feed(resource: Resource, summary: PullSummary): Promise<void> {
    const r = await this.#o.feed(resource);
    summary.fed += 1;
    if (r.status >= 400) {
      summary.refused += 1;
      if (r.deadLetter !== undefined) summary.deadLettered.push(r.deadLetter);
      this.#o.logger.warn('upstream resource refused by the adapter', {
        resourceType: resource.resourceType,
        status: r.status,
        error: r.error,
        deadLetter: r.deadLetter,
      });
    }
  }

  #summary(): PullSummary {
    return { subjects: 0, pages: 0, fed: 0, alreadyFed: 0, refused: 0, deadLettered: [], errors: [] };
  }
}
