/**
 * Admin view of scheduled jobs: GET /admin/jobs (state, and the upstream connection's granted and
 * missing scopes), POST /admin/jobs/{name}/run (run a slot now).
 */

import { type RequestHandler, Router } from 'express';
import { adminOnly } from '../auth/authorize.ts';
import { fail, notFound } from '../shared/outcomes.ts';
import type { JobRunner } from './job-runner.ts';

export function createJobsRouter(deps: {
  jobs: JobRunner;
  authenticate: RequestHandler;
  /** Extra admin views mounted under /admin/jobs/… would go here; subscriptions state for now. */
  subscriptions?: () => Promise<unknown>;
  /** The upstream connection's state shown with the jobs (granted and missing scopes). */
  upstream?: () => unknown;
}): Router {
  const router = Router();
  router.use('/admin/jobs', deps.authenticate, adminOnly('Jobs are'));
  router.get('/admin/jobs', async (_req, res) => {
    res.json({
      instanceId: deps.jobs.instanceId,
      jobs: await deps.jobs.states(),
      ...(deps.upstream ? { upstream: deps.upstream() } : {}),
    });
  });
  router.get('/admin/jobs/subscriptions', async (_req, res) => {
    res.json({ subscriptions: deps.subscriptions ? await deps.subscriptions() : [] });
  });
  router.post('/admin/jobs/:name/run', async (req, res) => {
    const name = req.params.name as string;
    if (!deps.jobs.has(name)) fail(notFound(`No job ${name}`));
    res.json({ name, result: await deps.jobs.runNow(name) });
  });
  return router;
}
