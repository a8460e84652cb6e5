/**
 * Reading a Subscriptions Backport IG 1.1 (R4) notification Bundle: type history, first entry the
 * SubscriptionStatus Parameters (subscription, topic, status, type, events-since-subscription-start,
 * notification-event parts). Pure; the receiver rejects what this cannot read with a 400.
 */
import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

const TYPES: readonly string[] = ['handshake', 'heartbeat', 'event-notification', 'query-status', 'query-event'];

export interface NotificationEvent {
  eventNumber: number | undefined;
  /** The focus reference as sent (often an absolute URL on the notifying server). */
  focus: string | undefined;
}

export interface SubscriptionNotification {
  subscription: string | undefined;
  topic: string | undefined;
  status: string | undefined;
  type: NotificationType;
  eventsSinceStart: number | undefined;
  events: NotificationEvent[];
  /** Entries after the status: full resources, or fullUrl/request only (id-only payloads). */
  entries: BundleEntry[];
}

export class NotificationFormatError extends Error {
  readonly code = 'SUBSCRIPTION_NOTIFICATION_INVALID';
}

function str(p: ParametersParameter | undefined): string | undefined {
  if (!p) return undefined;
  return (
    p.valueString ??
    p.valueCode ??
    p.valueCanonical ??
    p.valueUri ??
    p.valueUrl ??
    p.valueInstant ??
    p.valueReference?.reference ??
    (p.valueInteger !== undefined ? String(p.valueInteger) : undefined) ??
    (p.valueUnsignedInt !== undefined ? String(p.valueUnsignedInt) : undefined) ??
    (p.valuePositiveInt !== undefined ? String(p.valuePositiveInt) : undefined) ??
    (p.valueDecimal !== undefined ? String(p.valueDecimal) : undefined)
  );
}

function count(p: ParametersParameter | undefined, what: string): number | undefined {
  const s = str(p);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw new NotificationFormatError(`${what} must be a non-negative integer, got "${s}"`);
  return Number(s);
}

/** The status Parameters of a notification or of a $status answer (a Bundle or bare Parameters). */
export function statusParameters(resource: Resource | undefined): Parameters | undefined {
  if (resource?.resourceType === 'Parameters') return resource;
  if (resource?.resourceType === 'Bundle') {
    const first = resource.entry?.find((e) => e.resource?.resourceType === 'Parameters')?.resource;
    return first?.resourceType === 'Parameters' ? first : undefined;
  }
  return undefined;
}

export function parseNotification(body: unknown): SubscriptionNotification {
  const bundle = body as Bundle | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw new NotificationFormatError('a notification is a Bundle');
  }
  if (bundle.type !== 'history')
    throw new NotificationFormatError(`a notification Bundle has type history, not ${bundle.type}`);
  const [first, ...rest] = bundle.entry ?? [];
  const params = first?.resource;
  if (params?.resourceType !== 'Parameters') {
    throw new NotificationFormatError('the first entry of a notification must be the SubscriptionStatus Parameters');
  }
  const get = (name: string) => params.parameter?.find((p) => p.name === name);
  const type = str(get('type'));
  if (!type || !TYPES.includes(type)) throw new NotificationFormatError(`unknown notification type "${type ?? ''}"`);
  const events: NotificationEvent[] = (params.parameter ?? [])
    .filter((p) => p.name === 'notification-event')
    .map((p) => ({
      eventNumber: count(
        p.part?.find((x) => x.name === 'event-number'),
        'event-number',
      ),
      focus: str(p.part?.find((x) => x.name === 'focus')),
    }));
  return {
    subscription: str(get('subscription')),
    topic: str(get('topic')),
    status: str(get('status')),
    type: type as NotificationType,
    eventsSinceStart: count(get('events-since-subscription-start'), 'events-since-subscription-start'),
    events,
    entries: rest,
  };
}

/**
 * Whether events were missed: a heartbeat or status reporting more events than handled, or an
 * event numbered past the next one expected. `seen` is the highest event count handled so far
 * (undefined before the first notification).
 */
export function detectGap(n: SubscriptionNotification, seen: number | undefined): boolean {
  if (seen === undefined || n.type === 'handshake') return false;
  if (n.type === 'event-notification') {
    const numbers = n.events.map((e) => e.eventNumber).filter((x): x is number => x !== undefined);
    const firstNew = numbers.length > 0 ? Math.min(...numbers) : n.eventsSinceStart;
    return firstNew !== undefined && firstNew > seen + 1;
  }
  return n.eventsSinceStart !== undefined && n.eventsSinceStart > seen;
}

/** The highest event count this notification accounts for. */
export function eventsAccountedFor(n: SubscriptionNotification): number | undefined {
  const numbers = n.events.map((e) => e.eventNumber).filter((x): x is number => x !== undefined);
  const candidates = [...numbers, ...(n.eventsSinceStart !== undefined ? [n.eventsSinceStart] : [])];
  return candidates.length > 0 ? Math.max(...candidates) : undefined;
}
