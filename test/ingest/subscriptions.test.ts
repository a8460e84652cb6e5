// Subscription notifications (R4 Backport IG 1.1) with the real examples in ../shared/corpus/subscriptions,
// and notifications WRITTEN FOR THE TESTS carrying sirolimus troughs of an enrolled subject.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Observation, Parameters } from '@medplum/fhirtypes';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_DIR } from '../support/corpus.ts';
import { startTestService, type TestService } from '../support/test-service.ts';

const CORPUS = join(CORPUS_DIR, 'subscriptions', 'fhir-candle-r4');
const corpus = (file: string) => JSON.parse(readFileSync(join(CORPUS, file), 'utf8')) as Bundle;
const SECRET = 'shared-secret-for-tests-0001';
const HOST = 'https://ehr.test';
const SUB = `${HOST}/fhir/r4/Subscription/sub-1`;

function trough(id: string, value: number): Observation {
  return {
    resourceType: 'Observation',
    id,
    meta: { versionId: '4', lastUpdated: '2022-02-10T01:00:00Z' },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
    subject: { reference: `${HOST}/fhir/r4/Patient/sub-pt` },
    effectiveDateTime: '2022-02-10T08:00:00+08:00',
    valueQuantity: { value, unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
  };
}

function notification(
  type: string,
  events: number,
  focus: { ref: string; number: number; resource?: Observation }[] = [],
): Bundle {
  const status: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'subscription', valueReference: { reference: SUB } },
      { name: 'topic', valueCanonical: 'http://example.org/FHIR/SubscriptionTopic/lab-result' },
      { name: 'status', valueCode: 'active' },
      { name: 'type', valueCode: type },
      { name: 'events-since-subscription-start', valueString: String(events) },
      ...focus.map((f) => ({
        name: 'notification-event',
        part: [
          { name: 'event-number', valueString: String(f.number) },
          { name: 'focus', valueReference: { reference: f.ref } },
        ],
      })),
    ],
  };
  return {
    resourceType: 'Bundle',
    type: 'history',
    entry: [
      { fullUrl: 'urn:uuid:4b1b2c9e-0000-4000-8000-000000000001', resource: status },
      ...focus.map((f) => ({ fullUrl: f.ref, ...(f.resource ? { resource: f.resource } : {}) })),
    ],
  };
}

describe('Subscription notifications', () => {
  let s: TestService;
  const notify = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${SECRET}` }) =>
    s.call('/subscriptions/notify/ehr', {
      method: 'POST',
      role: 'none',
      headers: { 'content-type': 'application/fhir+json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  // Receipt starts processing in the background; this waits for the queue to be empty and returns
  // what was processed since `since` (a snapshot of the processor's totals).
  const snapshot = () => ({ ...s.service.upstream.subscriptions.totals });
  let since = { processed: 0, fed: 0, fetched: 0, ignored: 0, gaps: 0, failed: 0 };
  const drain = async () => {
    await s.service.upstream.subscriptions.drain();
    const now = snapshot();
    const diff = Object.fromEntries(
      Object.entries(now).map(([k, v]) => [k, v - since[k as keyof typeof since]]),
    ) as typeof since;
    since = now;
    return diff;
  };
  const state = async () =>
    (
      (await (await s.call('/admin/jobs/subscriptions')).json()) as {
        subscriptions: { name: string; eventsSinceStart: number; gaps: number; subscription: string }[];
      }
    ).subscriptions.find((x) => x.name === 'ehr');

  beforeAll(async () => {
    s = await startTestService({
      UPSTREAM_FHIR_URL: `${HOST}/fhir/r4`,
      UPSTREAM_AUTH: 'bearer',
      UPSTREAM_BEARER_TOKEN: 'test-token',
      SUBSCRIPTION_SECRET: SECRET,
      JOB_SCHEDULES: JSON.stringify({
        'outbox-delivery': 'off',
        'upstream-pull': 'off',
        'upstream-backfill': 'off',
        'subscription-queue': 'off',
        'subscription-check': 'off',
      }),
    });
    const rs = await s.call('/fhir/ResearchSubject', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: 'Patient/sub-pt' },
        assignedArm: 'low-dose',
        period: { start: '2022-01-10' },
      }),
    });
    expect(rs.status).toBe(201);
  });
  afterAll(async () => {
    nock.cleanAll();
    await s.stop();
  });

  it('authenticates the notifier by its shared secret', async () => {
    const handshake = corpus('Bundle-notification-handshake.json');
    expect((await notify(handshake, {})).status).toBe(401);
    expect((await notify(handshake, { authorization: 'Bearer wrong-secret-of-same-size-0' })).status).toBe(401);
    const ok = await notify(handshake);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { issue: { details: { text: string } }[] }).issue[0]?.details.text).toMatch(
      /^handshake \d+ accepted$/,
    );
  });

  it('refuses what is not a notification Bundle with a 400 OperationOutcome', async () => {
    const bad = [
      { resourceType: 'Parameters' },
      { ...corpus('Bundle-notification-handshake.json'), type: 'transaction' },
      { resourceType: 'Bundle', type: 'history', entry: [{ resource: { resourceType: 'Patient' } }] },
      notification('party', 0),
      '{"resourceType": "Bundle",',
    ];
    for (const body of bad) {
      const res = await notify(body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
  });

  it('records handshakes, and ignores id-only events about resources feeds do not send (corpus: Encounter)', async () => {
    const sum = await drain();
    expect(sum).toMatchObject({ processed: 1, failed: 0 });
    expect(await state()).toMatchObject({ eventsSinceStart: 0, gaps: 0 });
    expect((await notify(corpus('Bundle-notification-id.json'))).status).toBe(200);
    expect(await drain()).toMatchObject({ processed: 1, ignored: 1, fetched: 0, fed: 0, gaps: 0 });
    expect(await state()).toMatchObject({ eventsSinceStart: 1, gaps: 0 });
  });

  it('fetches id-only focus resources from upstream, and ingests full-resource payloads as they come', async () => {
    const scope = nock(HOST, { reqheaders: { authorization: 'Bearer test-token' } })
      .get('/fhir/r4/Observation/obs-7')
      .reply(200, trough('obs-7', 7.2));
    expect(
      (await notify(notification('event-notification', 2, [{ ref: `${HOST}/fhir/r4/Observation/obs-7`, number: 2 }])))
        .status,
    ).toBe(200);
    expect(await drain()).toMatchObject({ processed: 1, fetched: 1, fed: 1, gaps: 0 });
    expect(scope.isDone()).toBe(true);
    const ref = `${HOST}/fhir/r4/Observation/obs-8`;
    const full = notification('event-notification', 3, [{ ref, number: 3, resource: trough('obs-8', 8.4) }]);
    expect((await notify(full)).status).toBe(200);
    expect(await drain()).toMatchObject({ processed: 1, fetched: 0, fed: 1, gaps: 0 });
    for (const [id, value] of [
      ['obs-7', 7.2],
      ['obs-8', 8.4],
    ] as const) {
      const o = (await (await s.call(`/fhir/Observation/${id}`)).json()) as Observation;
      expect([o.valueQuantity?.value, o.subject?.reference]).toEqual([value, 'Patient/sub-pt']);
    }
    const records = (await (
      await s.call(
        '/fhir/Observation?_summary=count&code=http://loinc.org|29247-4&patient=sub-pt&_tag=https://khe-trial.example.org/fhir/CodeSystem/record-kind|trial-record',
      )
    ).json()) as Bundle;
    expect(records.total).toBe(2);
  });

  it('on a gap in event numbers asks upstream for $status and re-pulls', async () => {
    const scope = nock(HOST)
      .get('/fhir/r4/Subscription/sub-1/$status')
      .reply(200, {
        resourceType: 'Bundle',
        type: 'searchset',
        entry: [{ resource: notification('query-status', 6).entry?.[0]?.resource }],
      })
      .get((uri) => uri.startsWith('/fhir/r4/Observation?') && uri.includes('Patient%2Fsub-pt'))
      .reply(200, { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: trough('obs-5', 6.1) }] });
    const ref = `${HOST}/fhir/r4/Observation/obs-9`;
    expect(
      (await notify(notification('event-notification', 6, [{ ref, number: 6, resource: trough('obs-9', 9.1) }])))
        .status,
    ).toBe(200);
    expect(await drain()).toMatchObject({ processed: 1, fed: 1, gaps: 1 });
    expect(scope.isDone()).toBe(true);
    expect(await state()).toMatchObject({ eventsSinceStart: 6, gaps: 1, subscription: SUB });
    // What the re-pull found (an event the notifier never delivered) is in the store.
    expect((await s.call('/fhir/Observation/obs-5')).status).toBe(200);
    // A heartbeat agreeing with the count is no gap; one reporting more events is.
    expect((await notify(notification('heartbeat', 6))).status).toBe(200);
    expect(await drain()).toMatchObject({ processed: 1, gaps: 0 });
  });

  it('checks a subscription that stopped sending heartbeats with $status and a re-pull', async () => {
    const scope = nock(HOST)
      .get('/fhir/r4/Subscription/sub-1/$status')
      .reply(200, notification('query-status', 8).entry?.[0]?.resource)
      .get((uri) => uri.startsWith('/fhir/r4/Observation?'))
      .reply(200, { resourceType: 'Bundle', type: 'searchset', entry: [] });
    expect(await s.service.upstream.subscriptions.checkSilent(0)).toEqual(['ehr']);
    expect(scope.isDone()).toBe(true);
    expect(await state()).toMatchObject({ eventsSinceStart: 8 });
  });
});
