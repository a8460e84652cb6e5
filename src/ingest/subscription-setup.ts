/**
 * Optionally creates the rest-hook Subscription upstream from configuration (Subscriptions Backport
 * IG 1.1, R4): criteria is the topic's canonical URL, filters go in backport-filter-criteria, the
 * payload content type in backport-payload-content, and the shared secret travels as a channel
 * header. A conditional create on the endpoint (`url` search parameter), so restarts and several
 * instances leave one Subscription.
 */
import type { Element, Subscription, SubscriptionChannel } from '@medplum/fhirtypes';
import type { UpstreamClient } from '../writeback/upstream-client.ts';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

export interface SubscriptionSetup {
  topic: string;
  endpoint: string;
  secret: string;
  /** The header the secret travels in; "authorization" sends "Bearer <secret>". */
  header: string;
  payload: 'full-resource' | 'id-only';
  filter?: string | undefined;
  heartbeatSeconds: number;
}

export function backportSubscription(s: SubscriptionSetup): Subscription {
  const header = s.header === 'authorization' ? `Authorization: Bearer ${s.secret}` : `${s.header}: ${s.secret}`;
  // The payload content goes on the primitive's extension (_payload), which the type does not model.
  const channel: SubscriptionChannel & { _payload: Element } = {
    extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: s.heartbeatSeconds }],
    type: 'rest-hook',
    endpoint: s.endpoint,
    payload: 'application/fhir+json',
    _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: s.payload }] },
    header: [header],
  };
  return {
    resourceType: 'Subscription',
    meta: { profile: [`${BACKPORT}/backport-subscription`] },
    status: 'requested',
    reason: 'KHE trial adapter: results of enrolled subjects',
    criteria: s.topic,
    ...(s.filter
      ? { _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: s.filter }] } }
      : {}),
    channel,
  };
}

/** Creates the Subscription unless one with this endpoint exists; returns its upstream id. */
export async function ensureSubscription(upstream: UpstreamClient, setup: SubscriptionSetup): Promise<string> {
  const query = new URLSearchParams({ url: setup.endpoint });
  const existing = await upstream.search('Subscription', query);
  const found = existing.entry?.find((e) => e.resource?.resourceType === 'Subscription')?.resource;
  if (found?.id) return found.id;
  const created = await upstream.createIfNoneExist(backportSubscription(setup), query.toString());
  return created.id as string;
}
