// Creating the upstream Subscription from configuration: Backport IG shape, and once only.
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSubscription } from '../../src/ingest/subscription-setup.ts';
import { createTokenSource } from '../../src/writeback/upstream-auth.ts';
import { UpstreamClient } from '../../src/writeback/upstream-client.ts';
import { type FhirUpstream, startFhirUpstream } from '../support/fhir-upstream.ts';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

describe('upstream Subscription from configuration', () => {
  let up: FhirUpstream;
  let client: UpstreamClient;
  beforeAll(async () => {
    up = await startFhirUpstream();
    client = new UpstreamClient({
      fhirUrl: up.base,
      timeoutMs: 10_000,
      tokens: await createTokenSource({
        UPSTREAM_AUTH: 'bearer',
        UPSTREAM_BEARER_TOKEN: up.token,
        UPSTREAM_KEY_ALG: 'RS384',
        UPSTREAM_SCOPE: 'system/Subscription.cru',
      }),
    });
  });
  afterAll(async () => {
    await up.close();
  });

  it('creates one rest-hook Subscription in the Backport IG shape, and finds it again on restart', async () => {
    const setup = {
      topic: 'http://example.org/FHIR/SubscriptionTopic/lab-result',
      endpoint: 'https://adapter.example.org/subscriptions/notify/ehr',
      secret: 'shared-secret-for-tests-0001',
      header: 'authorization',
      payload: 'id-only' as const,
      filter: 'Observation?category=laboratory',
      heartbeatSeconds: 600,
    };
    const id = await ensureSubscription(client, setup);
    expect(await ensureSubscription(client, setup)).toBe(id);
    const all = await client.search('Subscription', new URLSearchParams());
    expect((all as Bundle).entry).toHaveLength(1);
    const sub = (await client.get<Subscription>(`Subscription/${id}`)) as Subscription & {
      _criteria?: { extension?: { url: string; valueString?: string }[] };
      channel: { _payload?: { extension?: { url: string; valueCode?: string }[] } };
    };
    expect(sub).toMatchObject({
      status: 'requested',
      criteria: setup.topic,
      channel: {
        type: 'rest-hook',
        endpoint: setup.endpoint,
        payload: 'application/fhir+json',
        header: [`Authorization: Bearer ${setup.secret}`],
      },
    });
    expect(sub._criteria?.extension).toEqual([
      { url: `${BACKPORT}/backport-filter-criteria`, valueString: setup.filter },
    ]);
    expect(sub.channel._payload?.extension).toEqual([
      { url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' },
    ]);
    expect(sub.channel.extension).toEqual([{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: 600 }]);
  });
});
