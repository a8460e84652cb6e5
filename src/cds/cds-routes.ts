/**
 * CDS Hooks 2.0 endpoints: discovery (public, as the specification has it), the trial-status
 * patient-view service and its feedback endpoint (both for trusted EHRs only). Errors are JSON with
 * the HTTP status the specification gives (400 bad request, 401 untrusted caller).
 */
import { randomUUID } from 'node:crypto';
import type { Patient } from '@medplum/fhirtypes';
import express, { type Request, type Response, Router } from 'express';
import * as z from 'zod';
import { CDS_ISSUER_SYSTEM, EHR_USER_SYSTEM, type ExternalRequestor } from '../auth/audit-event.ts';
import type { TrialRoster } from '../auth/trial-roster.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import type { Logger } from '../shared/logger.ts';
import { addCdsFeedback } from '../store/cds-feedback-store.ts';
import type { Db } from '../store/db.ts';
import { blindedStatus } from './blinded-status.ts';
import { trialCard } from './card.ts';
import { CdsAuthError, type CdsAuthenticator, type CdsCaller } from './cds-auth.ts';
import { cdsCors } from './cors.ts';
import { loadTrialStatuses, troughPrefetchCodes } from './load-status.ts';
import { candidatePatients } from './patient-match.ts';
import type { TrialStatus } from './trial-status.ts';

export const SERVICE_ID = 'trial-status';

const HookRequest = z.looseObject({
  hook: z.literal('patient-view'),
  hookInstance: z.string().min(1),
  context: z.looseObject({
    patientId: z.string().min(1),
    userId: z.string().optional(),
    fhirUser: z.string().optional(),
  }),
  prefetch: z.record(z.string(), z.unknown()).optional(),
  fhirServer: z.url().optional(),
});

const FeedbackRequest = z.strictObject({
  feedback: z
    .array(
      z.looseObject({
        card: z.string().min(1),
        outcome: z.enum(['accepted', 'overridden']),
        overrideReason: z
          .looseObject({
            reason: z.looseObject({ code: z.string().optional() }).optional(),
            userComment: z.string().optional(),
          })
          .optional(),
        outcomeTimestamp: z.iso.datetime({ offset: true }),
      }),
    )
    .min(1)
    .max(100),
});

export interface CdsDeps {
  db: Db;
  logger: Logger;
  studies: readonly StudyDefinition[];
  auth: CdsAuthenticator;
  /** Absolute URL of the CDS services, e.g. https://adapter.example/cds-services. */
  baseUrl: string;
  /** The SMART launch URL the card links to. */
  appUrl: string;
  plateletsCriticalBelow: number;
  troughStaleDays: number;
  /** Browser origins allowed to call the services (CORS); `*` for any. */
  allowedOrigins: readonly string[];
  /** The hospital MRN's identifier system, to match the EHR's patient to the enrolled child. */
  mrnSystem: string | undefined;
  /** Who is declared blinded (the hook's userId). */
  roster: TrialRoster;
  today?: () => string;
}

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: code, message });
}

export function createCdsRouter(deps: CdsDeps): Router {
  const router = Router();
  const json = express.json({ limit: '2mb', type: ['application/json', 'application/fhir+json'] });
  const today = deps.today ?? (() => new Date().toISOString().slice(0, 10));
  const serviceUrl = `${deps.baseUrl}/${SERVICE_ID}`;
  const registryIds = deps.studies.map((s) => s.identifier.value).join(', ');
  const levels = troughPrefetchCodes(deps.studies);
  router.use('/cds-services', cdsCors(deps.allowedOrigins));

  router.get('/cds-services', (_req, res) => {
    res.json({
      services: [
        {
          hook: 'patient-view',
          id: SERVICE_ID,
          title: `Trial status (${registryIds})`,
          description:
            'For a child in a study this adapter serves, one card per study: arm and the drug level it targets, the last level against the target, the labs and responses the study declares as outcomes, visits due or overdue, open adverse events and safety flags.',
          prefetch: {
            patient: 'Patient/{{context.patientId}}',
            ...(levels.length > 0
              ? { troughs: `Observation?patient={{context.patientId}}&code=${levels.join(',')}&_sort=-date&_count=5` }
              : {}),
          },
          usageRequirements:
            'The EHR signs each call with a key of an allow-listed issuer (JWT, aud = the service URL).',
        },
      ],
    });
  });

  const authenticated = async (req: Request, res: Response, url: string): Promise<CdsCaller | undefined> => {
    try {
      const caller = await deps.auth.verify(req.headers.authorization, url);
      // The audit trail names the calling EHR (issuer, subject) and the user it called for (issue 17).
      const context = (req.body as { context?: { userId?: unknown; fhirUser?: unknown } } | undefined)?.context;
      const users = [context?.userId, context?.fhirUser]
        .filter((u): u is string => typeof u === 'string' && u.length > 0 && u.length <= 1024)
        .filter((u, i, all) => all.indexOf(u) === i)
        .map((value) => ({ system: EHR_USER_SYSTEM, value }));
      const external: ExternalRequestor = { system: CDS_ISSUER_SYSTEM, value: caller.iss, altId: caller.sub, users };
      res.locals.auditExternal = external;
      return caller;
    } catch (err) {
      if (err instanceof CdsAuthError) {
        deps.logger.warn('CDS call refused', { code: err.code, reason: err.message });
        sendError(res, 401, err.code, err.message);
        return undefined;
      }
      throw err;
    }
  };

  router.post(`/cds-services/${SERVICE_ID}`, json, async (req, res) => {
    if (!(await authenticated(req, res, serviceUrl))) return;
    const parsed = HookRequest.safeParse(req.body);
    if (!parsed.success) {
      sendError(res, 400, 'CDS_REQUEST_INVALID', z.prettifyError(parsed.error).split('\n').slice(0, 3).join(' '));
      return;
    }
    const ehrId = parsed.data.context.patientId.replace(/^Patient\//, '');
    const prefetched = parsed.data.prefetch?.patient as Patient | null | undefined;
    const ehrPatient = prefetched?.resourceType === 'Patient' ? prefetched : undefined;
    let statuses: TrialStatus[] = [];
    for (const patientId of await candidatePatients(deps.db, { id: ehrId, patient: ehrPatient }, deps.mrnSystem)) {
      statuses = await loadTrialStatuses(deps.db, deps.studies, patientId, {
        today: today(),
        plateletsCriticalBelow: deps.plateletsCriticalBelow,
        troughStaleDays: deps.troughStaleDays,
        prefetch: parsed.data.prefetch,
      });
      if (statuses.length > 0) break;
    }
    if (statuses.length === 0) {
      res.json({ cards: [] });
      return;
    }
    const userRole = await deps.roster.roleOf(parsed.data.context.userId);
    // One card per study the child is on: each has its own source, indicator and trial page link.
    const cards = statuses.map((status) => ({
      uuid: randomUUID(),
      ...trialCard(userRole === 'blinded-clinician' ? blindedStatus(status) : status, deps.appUrl),
    }));
    res.json({ cards });
  });

  router.post(`/cds-services/${SERVICE_ID}/feedback`, json, async (req, res) => {
    const caller = await authenticated(req, res, `${serviceUrl}/feedback`);
    if (!caller) return;
    const issuer = caller.iss;
    const parsed = FeedbackRequest.safeParse(req.body);
    if (!parsed.success) {
      sendError(res, 400, 'CDS_FEEDBACK_INVALID', z.prettifyError(parsed.error).split('\n').slice(0, 3).join(' '));
      return;
    }
    await addCdsFeedback(
      deps.db,
      parsed.data.feedback.map((f) => ({
        serviceId: SERVICE_ID,
        issuer,
        card: f.card,
        outcome: f.outcome,
        overrideReason: f.overrideReason?.reason?.code ?? f.overrideReason?.userComment,
        outcomeAt: f.outcomeTimestamp,
      })),
    );
    res.status(200).json({});
  });
  return router;
}
