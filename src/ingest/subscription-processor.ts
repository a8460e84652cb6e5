/**
 * Processes queued Subscription notifications (oldest first, claimed with SKIP LOCKED and a lease):
 * tracks events-since-subscription-start per subscription; feeds full-resource payloads through the
 * push path and fetches id-only focus resources from upstream first; and on a gap (or, from the
 * check job, a subscription silent past its heartbeat allowance) asks upstream for $status and
 * re-pulls what was missed.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import {
  claimNotification,
  finishNotification,
  lockSubscriptionState,
  markStatusChecked,
  saveSubscriptionState,
  silentSubscriptions,
} from '../store/subscription-store.ts';
import type { UpstreamClient } from '../writeback/upstream-client.ts';
import { UpstreamError } from '../writeback/upstream-error.ts';
import {
  detectGap,
  eventsAccountedFor,
  parseNotification,
  type SubscriptionNotification,
  statusParameters,
} from './subscription-notification.ts';
import { isFeedType, type UpstreamFeed } from './upstream-feed.ts';

export interface SubscriptionProcessorOptions {
  db: Db;
  upstream: UpstreamClient | undefined;
  feed: UpstreamFeed;
  logger: Logger;
  /** Re-pull after missed events (the incremental pull: its cursors know what was already read). */
  repull(): Promise<unknown>;
  /** Attempts before a notification that keeps failing is set aside as failed. */
  maxAttempts?: number;
}

export interface ProcessSummary {
  processed: number;
  fed: number;
  fetched: number;
  ignored: number;
  gaps: number;
  failed: number;
}

/**
 * A reference from a notification as a path on the configured upstream: "Type/id". Absolute URLs
 * are never fetched as given, so the upstream token cannot be sent to another host.
 */
export function upstreamPath(ref: string): string | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
  return m && !/^\.+$/.test(m[2] as string) ? `${m[1]}/${m[2]}` : undefined;
}

const EMPTY = (): ProcessSummary => ({ processed: 0, fed: 0, fetched: 0, ignored: 0, gaps: 0, failed: 0 });

export class SubscriptionProcessor {
  readonly #o: SubscriptionProcessorOptions;
  #draining: Promise<ProcessSummary> | undefined;
  #again = false;
  /** Counts since start (what each drain did is also returned by it). */
  readonly totals: ProcessSummary = EMPTY();

  constructor(options: SubscriptionProcessorOptions) {
    this.#o = options;
  }

  /** Starts draining in the background unless already draining (called right after a receipt). */
  kick(): void {
    if (this.#draining) {
      // The running drain may already have seen an empty queue: have it look once more.
      this.#again = true;
      return;
    }
    this.drain().catch((err: unknown) => this.#o.logger.error('subscription queue processing failed', { err }));
  }

  /** Processes everything queued (also what is queued meanwhile); concurrent callers share one run. */
  drain(signal?: AbortSignal): Promise<ProcessSummary> {
    this.#draining ??= (async () => {
      const total = EMPTY();
      do {
        this.#again = false;
        const r = await this.#drain(signal);
        for (const k of Object.keys(total) as (keyof ProcessSummary)[]) {
          total[k] += r[k];
          this.totals[k] += r[k];
        }
      } while (this.#again && !signal?.aborted);
      return total;
    })().finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  async #drain(signal?: AbortSignal): Promise<ProcessSummary> {
    const sum = EMPTY();
    while (!signal?.aborted) {
      const item = await claimNotification(this.#o.db);
      if (!item) break;
      try {
        await this.#process(item.name, parseNotification(JSON.parse(item.content)), sum);
        await finishNotification(this.#o.db, item.id, 'processed', null);
        sum.processed += 1;
      } catch (err) {
        const retry = err instanceof UpstreamError && err.retryable && item.attempts < (this.#o.maxAttempts ?? 5);
        await finishNotification(this.#o.db, item.id, retry ? 'queued' : 'failed', (err as Error).message);
        if (!retry) sum.failed += 1;
        this.#o.logger.warn('subscription notification not processed', { id: item.id, retry, err });
        if (retry) break;
      }
    }
    return sum;
  }

  async #process(name: string, n: SubscriptionNotification, sum: ProcessSummary): Promise<void> {
    const gap = await this.#o.db.transaction(async (tx) => {
      const state = await lockSubscriptionState(tx, name);
      const seen = state.lastNotificationAt === null ? undefined : state.eventsSinceStart;
      const missed = detectGap(n, seen);
      await saveSubscriptionState(tx, {
        name,
        subscription: n.subscription ?? null,
        topic: n.topic ?? null,
        status: n.status ?? null,
        events: eventsAccountedFor(n) ?? 0,
        gap: missed,
      });
      return missed;
    });
    if (n.type === 'event-notification') await this.#ingest(n, sum);
    if (gap) {
      sum.gaps += 1;
      await this.recover(name, n.subscription);
    }
  }

  async #ingest(n: SubscriptionNotification, sum: ProcessSummary): Promise<void> {
    const handled = new Set<string>();
    for (const entry of n.entries) {
      if (entry.resource) {
        if (entry.fullUrl) handled.add(entry.fullUrl);
        if (!isFeedType(entry.resource.resourceType)) {
          sum.ignored += 1;
          continue;
        }
        await this.#o.feed(entry.resource);
        sum.fed += 1;
      }
    }
    // id-only payloads (and full-resource ones that could not include a resource): fetch the focus.
    const focuses = new Set<string>();
    for (const e of n.events) if (e.focus && !handled.has(e.focus)) focuses.add(e.focus);
    for (const entry of n.entries)
      if (!entry.resource && entry.fullUrl && !handled.has(entry.fullUrl)) focuses.add(entry.fullUrl);
    for (const ref of focuses) {
      const path = upstreamPath(ref);
      if (!path || !isFeedType(path.split('/')[0] as string) || !this.#o.upstream) {
        sum.ignored += 1;
        continue;
      }
      const resource = await this.#o.upstream.get<Resource>(path);
      sum.fetched += 1;
      await this.#o.feed(resource);
      sum.fed += 1;
    }
  }

  /** $status on the subscription (to learn how many events there were), then re-pull. */
  async recover(name: string, subscription: string | undefined): Promise<void> {
    let events: number | undefined;
    const path = subscription ? upstreamPath(subscription) : undefined;
    if (this.#o.upstream && path?.startsWith('Subscription/')) {
      try {
        const answer = await this.#o.upstream.get<Resource>(`${path}/$status`);
        const p = statusParameters(answer)?.parameter?.find((x) => x.name === 'events-since-subscription-start');
        const v = p?.valueString ?? (p?.valueInteger !== undefined ? String(p.valueInteger) : undefined);
        if (v !== undefined && /^\d+$/.test(v)) events = Number(v);
      } catch (err) {
        this.#o.logger.warn('subscription $status failed; re-pulling anyway', { name, err });
      }
    }
    await this.#o.repull();
    await markStatusChecked(this.#o.db, name, events);
    this.#o.logger.info('re-pulled after missed subscription events', { name, events });
  }

  /** The heartbeat check: subscriptions silent past the allowance are recovered like a gap. */
  async checkSilent(allowanceSeconds: number): Promise<string[]> {
    const silent = await silentSubscriptions(this.#o.db, allowanceSeconds);
    for (const s of silent) await this.recover(s.name, s.subscription ?? undefined);
    return silent.map((s) => s.name);
  }
}
