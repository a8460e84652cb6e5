/**
 * The rest-hook endpoint for Subscriptions Backport IG 1.1 notifications: POST
 * /subscriptions/notify/{name}. Authenticated by a shared secret (Authorization: Bearer <secret>, or
 * the configured header carrying it, as Subscription.channel.header sends it), checked for shape,
 * stored in the durable queue and answered 200 at once; processing happens from the queue.
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type RequestHandler, Router } from 'express';
import { sendOutcome } from '../fhir/http/send.ts';
import { badRequest, fail, forbidden, unauthorized } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';
import { queueNotification } from '../store/subscription-store.ts';
import { NotificationFormatError, parseNotification } from './subscription-notification.ts';

export interface SubscriptionApiDeps {
  db: Db;
  /** Undefined: the endpoint refuses every notification (403), since nobody could be verified. */
  secret: string | undefined;
  header: string;
  bodyLimit: string;
  onQueued(): void;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createSubscriptionRouter(deps: SubscriptionApiDeps): Router {
  const router = Router();
  const verify: RequestHandler = (req, _res, next) => {
    if (!deps.secret) fail(forbidden('Subscription notifications are not configured (SUBSCRIPTION_SECRET)'));
    const raw = req.headers[deps.header];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (!value) fail(unauthorized('Notification without credentials'));
    const presented = deps.header === 'authorization' ? (/^Bearer\s+(.+)$/i.exec(value)?.[1] ?? '') : value;
    if (!same(presented, deps.secret)) fail(unauthorized('Notification credentials not accepted'));
    next();
  };
  router.post(
    '/subscriptions/notify/:name',
    verify,
    express.json({ limit: deps.bodyLimit, type: ['application/fhir+json', 'application/json'] }),
    async (req, res) => {
      const name = req.params.name as string;
      if (!/^[a-z0-9-]{1,64}$/.test(name)) fail(badRequest('subscription name must be [a-z0-9-]', 'name'));
      if (req.body === undefined) fail(badRequest('A notification Bundle (application/fhir+json) is required'));
      let type: string;
      try {
        type = parseNotification(req.body).type;
      } catch (err) {
        if (err instanceof NotificationFormatError) fail(badRequest(err.message));
        throw err;
      }
      const id = await queueNotification(deps.db, name, JSON.stringify(req.body));
      deps.onQueued();
      sendOutcome(res, 200, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'information', code: 'informational', details: { text: `${type} ${id} accepted` } }],
      });
    },
  );
  return router;
}
