/** Admin view of scheduled jobs: GET /admin/jobs (state), POST /admin/jobs/{name}/run (run a slot now). */
import { type RequestHandler, Router } from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import { fail, forbidden, notFound } from '../fhir/outcomes.ts';
import type { JobRunner } from './job-runner.ts';

export function createJobsRouter(deps: {
  jobs: JobRunner;
  authenticate: RequestHandler;
  /** Extra admin views mounted under /admin/jobs/… would go here; subscriptions state for now. */
  subscriptions?: () => Promise<unknown>;
}): Router {
  const router = Router();
  const adminOnly: RequestHandler = (_req, res, next) => {
    const access = res.locals.access as AccessContext | undefined;
    if (access?.role !== 'admin') fail(forbidden('Jobs are for the admin role'));
    next();
  };
  router.use('/admin/jobs', deps.authenticate, adminOnly);
  router.get('/admin/jobs', async (_req, res) => {
    res.json({ instanceId: deps.jobs.instanceId, jobs: await deps.jobs.states() });
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
