// Reading notification Bundles (Backport IG 1.1) and deciding when events were missed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  detectGap,
  eventsAccountedFor,
  NotificationFormatError,
  parseNotification,
  type SubscriptionNotification,
} from '../../src/ingest/subscription-notification.ts';
import { upstreamPath } from '../../src/ingest/subscription-processor.ts';
import { CORPUS_DIR } from '../support/corpus.ts';

const CORPUS = join(CORPUS_DIR, 'subscriptions', 'fhir-candle-r4');
const read = (f: string) => JSON.parse(readFileSync(join(CORPUS, f), 'utf8')) as unknown;

const n = (type: SubscriptionNotification['type'], events: number | undefined, numbers: number[] = []) =>
  ({
    type,
    eventsSinceStart: events,
    events: numbers.map((e) => ({ eventNumber: e, focus: undefined })),
  }) as SubscriptionNotification;

describe('notification bundles', () => {
  it('reads the corpus handshake', () => {
    const h = parseNotification(read('Bundle-notification-handshake.json'));
    expect(h).toMatchObject({
      type: 'handshake',
      status: 'active',
      eventsSinceStart: 0,
      topic: 'http://example.org/FHIR/SubscriptionTopic/encounter-complete',
      subscription: 'https://subscriptions.argo.run/fhir/r4/Subscription/383c610b-8a8b-4173-b363-7b811509aadd',
      events: [],
      entries: [],
    });
  });

  it('reads the corpus id-only event: event number and focus', () => {
    const e = parseNotification(read('Bundle-notification-id.json'));
    expect(e.type).toBe('event-notification');
    expect(e.eventsSinceStart).toBe(1);
    expect(e.events).toEqual([
      {
        eventNumber: 1,
        focus: 'https://subscriptions.argo.run/fhir/r4/Encounter/36e1c9d9-6878-4ef0-b1ff-9f5986e2def6',
      },
    ]);
  });

  it.each([
    [null, /a notification is a Bundle/],
    [{ resourceType: 'Bundle', type: 'searchset' }, /type history/],
    [{ resourceType: 'Bundle', type: 'history', entry: [] }, /first entry/],
    [
      { resourceType: 'Bundle', type: 'history', entry: [{ resource: { resourceType: 'Parameters', parameter: [] } }] },
      /unknown notification type/,
    ],
    [
      {
        resourceType: 'Bundle',
        type: 'history',
        entry: [
          {
            resource: {
              resourceType: 'Parameters',
              parameter: [
                { name: 'type', valueCode: 'heartbeat' },
                { name: 'events-since-subscription-start', valueString: '-1' },
              ],
            },
          },
        ],
      },
      /events-since-subscription-start must be a non-negative integer/,
    ],
  ])('rejects %j', (body, message) => {
    expect(() => parseNotification(body)).toThrow(NotificationFormatError);
    expect(() => parseNotification(body)).toThrow(message);
  });

  it.each([
    ['first notification ever', n('event-notification', 5, [5]), undefined, false],
    ['handshake', n('handshake', 9), 3, false],
    ['next event', n('event-notification', 4, [4]), 3, false],
    ['a repeated event', n('event-notification', 3, [3]), 3, false],
    ['skipped events 4 and 5', n('event-notification', 6, [6]), 3, true],
    ['two events at once, in order', n('event-notification', 5, [4, 5]), 3, false],
    ['heartbeat agreeing', n('heartbeat', 3), 3, false],
    ['heartbeat reporting more events', n('heartbeat', 4), 3, true],
    ['empty payload event counted by status only', n('event-notification', 5), 3, true],
  ])('gap: %s', (_label, notification, seen, gap) => {
    expect(detectGap(notification, seen)).toBe(gap);
  });

  it('accounts for the highest event number or count', () => {
    expect(eventsAccountedFor(n('event-notification', 5, [4, 5]))).toBe(5);
    expect(eventsAccountedFor(n('heartbeat', undefined))).toBeUndefined();
  });

  it.each([
    ['https://ehr.example/fhir/r4/Observation/obs-1', 'Observation/obs-1'],
    ['https://elsewhere.example/Observation/obs-1/_history/3', 'Observation/obs-1'],
    ['Patient/p1', 'Patient/p1'],
    ['urn:uuid:1234', undefined],
    ['https://ehr.example/fhir/r4/Observation/..', undefined],
    ['https://ehr.example/fhir/r4/Observation/../../etc', undefined],
  ])('resolves %s on the configured upstream as %s', (ref, path) => {
    expect(upstreamPath(ref)).toBe(path);
  });
});
