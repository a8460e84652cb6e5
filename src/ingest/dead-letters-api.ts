/**
 * Admin operations on the dead-letter list (JSON, not FHIR): list, replay after fixing mappings/,
 * discard. Errors are OperationOutcomes like everywhere else.
 */

import express, { type RequestHandler, Router } from 'express';
import * as z from 'zod';
import type { AccessContext } from '../auth/access-context.ts';
import { adminOnly } from '../auth/authorize.ts';
import type { FhirContext } from '../fhir/fhir-context.ts';
import { badRequest, fail, notFound } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';
import { listDeadLetters, resolveDeadLetter } from '../store/dead-letter-store.ts';
import type { Intake } from './intake.ts';
import { replayDeadLetters } from './replay-dead-letters.ts';

const ReplayBody = z.strictObject({ ids: z.array(z.string().regex(/^\d+$/)).optional() }).default({});
const DiscardBody = z.strictObject({ reason: z.string().min(1).max(500) });
const Status = z.enum(['open', 'replayed', 'discarded']).optional();

export interface DeadLetterApiDeps {
  db: Db;
  intake: Intake;
  authenticate: RequestHandler;
  /** Rebuilds the routing table from mappings/ (ConceptMaps may have been fixed). */
  reloadMappings(): Promise<void>;
  /** A FHIR context acting for the replaying admin. */
  context(access: AccessContext): FhirContext;
}

export function createDeadLetterRouter(deps: DeadLetterApiDeps): Router {
  const router = Router();
  router.use(
    '/admin/dead-letters',
    deps.authenticate,
    adminOnly('The dead-letter list is'),
    express.json({ limit: '64kb', type: ['application/json', 'application/fhir+json'] }),
  );

  router.get('/admin/dead-letters', async (req, res) => {
    const status = Status.safeParse(req.query.status);
    if (!status.success) fail(badRequest('status must be open, replayed or discarded', 'status'));
    res.json({ deadLetters: await listDeadLetters(deps.db, status.data) });
  });

  router.post('/admin/dead-letters/replay', async (req, res) => {
    const body = ReplayBody.safeParse(req.body ?? {});
    if (!body.success) fail(badRequest(z.prettifyError(body.error)));
    await deps.reloadMappings();
    const access = res.locals.access as AccessContext;
    res.json(await replayDeadLetters(deps.db, deps.intake, () => deps.context(access), body.data.ids));
  });

  router.post('/admin/dead-letters/:id/discard', async (req, res) => {
    const body = DiscardBody.safeParse(req.body ?? {});
    if (!body.success) fail(badRequest(z.prettifyError(body.error)));
    const id = req.params.id as string;
    if (!/^\d+$/.test(id) || !(await resolveDeadLetter(deps.db, id, 'discarded', body.data.reason))) {
      fail(notFound(`No open dead letter ${id}`));
    }
    res.json({ id, status: 'discarded' });
  });
  return router;
}
