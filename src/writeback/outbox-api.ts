/**
 * Admin operations on write-back dead letters (JSON, not FHIR): list the outbox (dead letters by
 * default) with its health (oldest pending age, alert), retry dead letters (all or some), discard
 * one with a reason.
 */

import express, { type RequestHandler, Router } from 'express';
import * as z from 'zod';
import { adminOnly } from '../auth/authorize.ts';
import { badRequest, fail, notFound } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';
import { discardOutboxDead, listOutbox, retryOutboxDead } from '../store/outbox-store.ts';
import { outboxHealth } from './outbox-metrics.ts';

const Status = z.enum(['pending', 'delivered', 'dead', 'discarded']).default('dead');
const RetryBody = z.strictObject({ ids: z.array(z.string().regex(/^\d+$/)).min(1).optional() }).default({});
const DiscardBody = z.strictObject({ reason: z.string().min(1).max(500) });

export function createOutboxRouter(deps: {
  db: Db;
  authenticate: RequestHandler;
  /** OUTBOX_ALERT_AGE_MINUTES in seconds. */
  alertAgeSeconds: number;
  onRetry?: () => void;
}): Router {
  const router = Router();
  router.use(
    '/admin/outbox',
    deps.authenticate,
    adminOnly('The write-back outbox is'),
    express.json({ limit: '64kb', type: ['application/json', 'application/fhir+json'] }),
  );
  router.get('/admin/outbox', async (req, res) => {
    const status = Status.safeParse(req.query.status);
    if (!status.success) fail(badRequest('status must be pending, delivered, dead or discarded', 'status'));
    const stats = await outboxHealth(deps.db, deps.alertAgeSeconds);
    res.json({ status: status.data, items: await listOutbox(deps.db, status.data), stats });
  });
  router.post('/admin/outbox/retry', async (req, res) => {
    const body = RetryBody.safeParse(req.body ?? {});
    if (!body.success) fail(badRequest(z.prettifyError(body.error)));
    const retried = await retryOutboxDead(deps.db, body.data.ids);
    if (retried.length > 0) deps.onRetry?.();
    res.json({ retried });
  });
  router.post('/admin/outbox/:id/discard', async (req, res) => {
    const body = DiscardBody.safeParse(req.body ?? {});
    if (!body.success) fail(badRequest(z.prettifyError(body.error)));
    const id = req.params.id as string;
    if (!/^\d+$/.test(id) || !(await discardOutboxDead(deps.db, id, body.data.reason))) {
      fail(notFound(`No dead letter ${id} in the outbox`));
    }
    res.json({ id, status: 'discarded' });
  });
  return router;
}
