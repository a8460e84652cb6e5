/**
 * The SMART on FHIR trial page and the coordinator overview: HTML shells, their bundled scripts, and
 * the JSON they read. After a launch the page trades what the EHR gave it (id_token, or an access
 * token to introspect) for the adapter's own short-lived session (POST /app/api/session), then asks
 * for the child's status by the EHR's Patient (matched by MRN). Machine clients may still call the
 * JSON with the adapter's own tokens, for the clinician and admin roles.
 */
import type { Patient } from '@medplum/fhirtypes';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import { type AppSession, AppSessions } from '../auth/app-session.ts';
import type { TrialRole } from '../auth/ehr-config.ts';
import { EhrIdentityError, type EhrIdentityVerifier } from '../auth/ehr-identity.ts';
import type { TrialRoster } from '../auth/trial-roster.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import { badRequest, fail, forbidden, notFound, OperationOutcomeError, unauthorized } from '../shared/outcomes.ts';
import type { Db } from '../store/db.ts';
import { readByType } from '../store/outcome-store.ts';
import { readMany } from '../store/resource-store.ts';
import type { OverviewRow } from './app/coordinator-page.ts';
import { appBundles, isAppEntry } from './app-bundle.ts';
import { APP_STYLE } from './app-style.ts';
import { blindedStatus } from './blinded-status.ts';
import { loadTrialStatuses } from './load-status.ts';
import { candidatePatients, mrnOf } from './patient-match.ts';
import type { TrialStatus } from './trial-status.ts';
import { ageWords, codeWords, numberWords, unitWords } from './words.ts';

export interface AppRoutesDeps {
  db: Db;
  studies: readonly StudyDefinition[];
  authenticate: RequestHandler;
  clientId: string;
  plateletsCriticalBelow: number;
  troughStaleDays: number;
  mrnSystem: string | undefined;
  /** Absent: no EHR is configured for SMART launches (SMART_EHRS), so no sessions are issued. */
  sessions: { issuer: AppSessions; identity: EhrIdentityVerifier; roster: TrialRoster } | undefined;
}

/** Who is looking, whichever way they came in. */
type Viewer = TrialRole;

const NOT_AUTHORISED = "You are not authorised to see this trial's data";

function shell(title: string, script: string, data: Record<string, string> = {}): string {
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k}="${v.replaceAll('&', '&amp;').replaceAll('"', '&quot;')}"`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}</title><style>${APP_STYLE}</style></head><body${attrs}><main id="main"><p>Loading…</p></main>
<script type="module" src="/app/assets/${script}.js"></script></body></html>`;
}

const day = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '');

export function createAppRouter(deps: AppRoutesDeps): Router {
  const router = Router();
  const json = express.json({ limit: '64kb', type: ['application/json', 'application/fhir+json'] });
  const today = (): string => new Date().toISOString().slice(0, 10);
  const registryIds = deps.studies.map((s) => s.identifier.value).join(' or ') || 'the trial';

  const authenticate: RequestHandler = (req, res, next) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const token = m?.[1];
    if (!token || !AppSessions.isSession(token) || !deps.sessions) {
      deps.authenticate(req, res, next);
      return;
    }
    deps.sessions.issuer.verify(token).then(
      (session) => {
        res.locals.appSession = session;
        next();
      },
      () =>
        next(new OperationOutcomeError(unauthorized('Your session has ended: open the trial page again from the EHR'))),
    );
  };

  const viewerOf = (res: Response, allowed: readonly Viewer[]): Viewer => {
    const session = res.locals.appSession as AppSession | undefined;
    const access = res.locals.access as AccessContext | undefined;
    const viewer: Viewer | undefined = session
      ? session.trialRole
      : access?.role === 'admin'
        ? 'coordinator'
        : access?.role === 'clinician'
          ? 'clinician'
          : undefined;
    if (!viewer || !allowed.includes(viewer)) fail(forbidden(NOT_AUTHORISED));
    return viewer;
  };

  /** The child's status in every study it is on (the page shows a section per study). */
  const statusFor = async (patientIds: readonly string[], viewer: Viewer): Promise<{ studies: TrialStatus[] }> => {
    for (const id of patientIds) {
      const statuses = await loadTrialStatuses(deps.db, deps.studies, id, {
        today: today(),
        plateletsCriticalBelow: deps.plateletsCriticalBelow,
        troughStaleDays: deps.troughStaleDays,
      });
      if (statuses.length > 0) {
        return { studies: viewer === 'blinded-clinician' ? statuses.map(blindedStatus) : statuses };
      }
    }
    fail(notFound(`This child is not enrolled in ${registryIds}`));
  };

  router.get('/app/launch', (_req, res) => {
    res.type('html').send(shell('Trial status: launching', 'launch', { target: 'page', 'client-id': deps.clientId }));
  });
  router.get('/app/coordinator-launch', (_req, res) => {
    res
      .type('html')
      .send(shell('Study overview: launching', 'launch', { target: 'coordinator', 'client-id': deps.clientId }));
  });
  router.get('/app/page', (_req, res) => {
    res.type('html').send(shell('Trial status', 'trial-page', { study: registryIds }));
  });
  router.get('/app/coordinator', (_req, res) => {
    res.type('html').send(shell('Study overview', 'coordinator-page', { study: registryIds }));
  });
  router.get('/app/assets/:name.js', async (req, res) => {
    const name = req.params.name as string;
    if (!isAppEntry(name)) fail(notFound(`No asset ${name}.js`));
    const js = (await appBundles()).get(name);
    if (!js) fail(notFound(`No asset ${name}.js`));
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('text/javascript').send(js);
  });

  router.post('/app/api/session', json, async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
    const iss = str('iss');
    if (!iss) fail(badRequest('iss (the EHR FHIR base the page was launched from) is required'));
    if (!deps.sessions) fail(unauthorized('This adapter accepts no SMART launches: SMART_EHRS is not configured'));
    let identity: Awaited<ReturnType<EhrIdentityVerifier['identify']>>;
    try {
      identity = await deps.sessions.identity.identify({
        iss,
        idToken: str('id_token'),
        accessToken: str('access_token'),
      });
    } catch (err) {
      if (err instanceof EhrIdentityError)
        fail(unauthorized(`The EHR's sign-in could not be confirmed: ${err.message}`));
      throw err;
    }
    const trialRole = await deps.sessions.roster.roleOf(identity.fhirUser);
    if (!trialRole) fail(forbidden(NOT_AUTHORISED));
    const session = await deps.sessions.issuer.issue(
      { fhirUser: identity.fhirUser, trialRole, ehr: identity.ehr.fhirBase },
      identity.exp,
    );
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      session: session.token,
      expires_in: session.expiresIn,
      trialRole,
      fhirUser: identity.fhirUser,
      ...(deps.mrnSystem ? { mrnSystem: deps.mrnSystem } : {}),
      studies: deps.studies.map((s) => ({
        registryId: s.identifier.value,
        shortName: s.shortName ?? s.identifier.value,
      })),
    });
  });

  // The child as the EHR knows it: its Patient (id and identifiers), matched here by MRN.
  router.post('/app/api/status', authenticate, json, async (req, res) => {
    const viewer = viewerOf(res, ['clinician', 'blinded-clinician', 'coordinator']);
    const patient = ((req.body ?? {}) as { patient?: Pick<Patient, 'id' | 'identifier'> }).patient;
    if (!patient || typeof patient !== 'object') fail(badRequest('patient (the EHR Patient) is required'));
    const identifiers = Array.isArray(patient.identifier) ? patient.identifier : [];
    const ehrPatient = {
      identifier: identifiers.filter((i) => typeof i?.system === 'string' && typeof i.value === 'string'),
    };
    // The EHR's id means nothing here once the site has an MRN: no MRN, no match.
    if (deps.mrnSystem && !mrnOf(ehrPatient, deps.mrnSystem))
      fail(notFound(`This child has no hospital number (MRN) in the EHR record, so the trial cannot find them`));
    const ids = await candidatePatients(
      deps.db,
      { id: typeof patient.id === 'string' ? patient.id : undefined, patient: ehrPatient },
      deps.mrnSystem,
    );
    res.json(await statusFor(ids, viewer));
  });

  router.get('/app/api/status/:patientId', authenticate, async (req, res) => {
    const viewer = viewerOf(res, ['clinician', 'blinded-clinician', 'coordinator']);
    res.json(await statusFor([req.params.patientId as string], viewer));
  });

  router.get('/app/api/overview', authenticate, async (_req, res) => {
    viewerOf(res, ['coordinator']);
    const patients = new Set<string>();
    for (const s of await readByType(deps.db, 'ResearchSubject')) {
      const ref = (JSON.parse(s.content) as { individual?: { reference?: string } }).individual?.reference ?? '';
      if (ref.startsWith('Patient/')) patients.add(ref.slice('Patient/'.length));
    }
    const stored = await readMany(
      deps.db,
      [...patients].map((id) => ({ resourceType: 'Patient', id })),
    );
    const mrns = new Map(
      stored.map((p) => [p.id, mrnOf(JSON.parse(p.content ?? '{}') as Patient, deps.mrnSystem) ?? '']),
    );
    const rows: OverviewRow[] = [];
    for (const patientId of [...patients].sort()) {
      const statuses = await loadTrialStatuses(deps.db, deps.studies, patientId, {
        today: today(),
        plateletsCriticalBelow: deps.plateletsCriticalBelow,
        troughStaleDays: deps.troughStaleDays,
      });
      // A row per child and study it is on.
      for (const st of statuses) {
        const t = st.lastTrough;
        const level = (v: number): string =>
          st.trough ? `${numberWords(v, st.decimals[st.trough.measureId] ?? 1)} ${unitWords(st.trough.unit)}` : '';
        rows.push({
          patientId,
          mrn: mrns.get(patientId) ?? '',
          arm: st.arm ?? '',
          nextVisit: st.nextVisit ? `${st.nextVisit.label} (${codeWords(st.nextVisit.state).toLowerCase()})` : '',
          nextVisitWindow: st.nextVisit ? `${day(st.nextVisit.windowStart)} to ${day(st.nextVisit.windowEnd)}` : '',
          overdue: st.overdue.map((v) => v.label).join(', '),
          lastTrough: t
            ? `${level(t.value)}, ${ageWords(t.ageDays)}${t.stale ? ' (stale)' : ''}`
            : st.trough
              ? 'No results yet'
              : 'No level targeted',
          lastTroughDate: t ? day(t.date) : '',
          troughStatus: t ? codeWords(t.status) : '',
          safety: [st.critical, ...st.activeFlags.map((f) => f.text)].filter((x): x is string => Boolean(x)).join('; '),
          study: st.studyShortName,
        });
      }
    }
    res.json(rows);
  });
  return router;
}
