/**
 * POST /admin/reindex {"resourceType": "QuestionnaireResponse", "after": "0", "limit": 500}: one
 * window of a reindex (src/jobs/reindex.ts), answered with where the next one starts. Bounded work
 * per request, so a long reindex is a loop of short calls (`npm run reindex`) that any instance
 * serves and that resumes from its last answer. POST /admin/reindex/{type}/done records a full pass;
 * GET /admin/reindex lists the types whose stored index rows predate their search parameters.
 */
import express, { type RequestHandler, Router } from 'express';
import * as z from 'zod';
import { adminOnly } from '../auth/authorize.ts';
import { badRequest, fail } from '../shared/outcomes.ts';
import { isSupportedResourceType } from '../shared/resource-types.ts';
import type { Db } from '../store/db.ts';
import { reindexWindow } from './reindex.ts';
import { recordReindexed, typesNeedingReindex } from './reindex-state.ts';

const Body = z.strictObject({
  resourceType: z.string().refine(isSupportedResourceType, 'not a resource type this server stores'),
  after: z
    .string()
    .regex(/^\d{1,19}$/)
    .default('0'),
  limit: z.number().int().min(1).max(5000).default(500),
});

export function createReindexRouter(deps: { db: Db; baseUrl: string; authenticate: RequestHandler }): Router {
  const router = Router();
  router.use(
    '/admin/reindex',
    deps.authenticate,
    adminOnly('Reindexing is'),
    express.json({ limit: '4kb', type: ['application/json', 'application/fhir+json'] }),
  );
  router.get('/admin/reindex', async (_req, res) => {
    res.json({ needed: await typesNeedingReindex(deps.db) });
  });
  router.post('/admin/reindex/:type/done', async (req, res) => {
    const type = req.params.type as string;
    if (!isSupportedResourceType(type)) fail(badRequest(`${type} is not a resource type this server stores`));
    await recordReindexed(deps.db, type);
    res.json({ resourceType: type, state: 'current' });
  });
  router.post('/admin/reindex', async (req, res) => {
    const body = Body.safeParse(req.body ?? {});
    if (!body.success) fail(badRequest(z.prettifyError(body.error)));
    const { resourceType, after, limit } = body.data;
    res.json(await reindexWindow(deps.db, deps.baseUrl, resourceType, after, limit));
  });
  return router;
}
