/**
 * Admin operations on the outcomes stage (JSON): how many subjects wait for recomputation, and a
 * full recomputation (every ResearchSubject marked; `?wait=true` computes before answering). A
 * marked subject whose inputs are unchanged is skipped (fingerprint.ts); `?force=true` forgets the
 * fingerprints first, for when the rules' code changed without OUTCOME_CODE_VERSION being raised.
 */

import { type RequestHandler, Router } from 'express';
import { adminOnly } from '../auth/authorize.ts';
import type { Db } from '../store/db.ts';
import { listOutcomeFailures } from '../store/outcome-failure-store.ts';
import { clearFingerprints } from '../store/outcome-fingerprint-store.ts';
import { countMarks, markAllSubjects } from '../store/outcome-store.ts';
import type { OutcomeEngine } from './recompute.ts';

export interface OutcomesApiDeps {
  db: Db;
  engine: OutcomeEngine;
  authenticate: RequestHandler;
  nudge(): void;
}

export function createOutcomesRouter(deps: OutcomesApiDeps): Router {
  const router = Router();
  router.use('/admin/outcomes', deps.authenticate, adminOnly('Outcome recomputation is'));
  router.get('/admin/outcomes', async (_req, res) => {
    // Failed subjects: each with its error and when it is retried (issue 17).
    res.json({ pendingMarks: await countMarks(deps.db), failures: await listOutcomeFailures(deps.db) });
  });
  router.post('/admin/outcomes/recompute', async (req, res) => {
    const all = req.query.scope === 'all';
    const forced = req.query.force === 'true';
    if (forced) await clearFingerprints(deps.db);
    const marked = all ? await markAllSubjects(deps.db) : undefined;
    if (req.query.wait === 'true') {
      const r = await deps.engine.drain();
      res.json({
        marked,
        forced,
        subjects: r.subjects,
        created: r.created,
        amended: r.amended,
        retracted: r.retracted,
        unchanged: r.unchanged,
        measureReports: r.measureReports,
        failed: r.failed,
      });
      return;
    }
    deps.nudge();
    res.status(202).json({ marked, forced, pendingMarks: await countMarks(deps.db) });
  });
  return router;
}
