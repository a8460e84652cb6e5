/**
 * The SMART on FHIR trial page and the coordinator overview: HTML shells, their bundled scripts, and
 * the JSON they read. The JSON endpoints take the bearer token the EHR's authorization server issued
 * to the page (accepted as a hospital identity provider token: IDP_* settings), for the clinician
 * and admin roles; the overview is for admins (trial coordinators).
 */
import { type RequestHandler, Router } from 'express';
import type { AccessContext } from '../auth/access-context.ts';
import { fail, forbidden, notFound } from '../fhir/outcomes.ts';
import type { StudyDefinition } from '../mapping/study-definition.ts';
import type { Db } from '../store/db.ts';
import { readByType } from '../store/outcome-store.ts';
import type { OverviewRow } from './app/coordinator-page.ts';
import { appBundles, isAppEntry } from './app-bundle.ts';
import { loadTrialStatus } from './load-status.ts';

export interface AppRoutesDeps {
  db: Db;
  studies: readonly StudyDefinition[];
  authenticate: RequestHandler;
  clientId: string;
  plateletsCriticalBelow: number;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:70rem;color:#111;background:#fff;line-height:1.4}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:1.5rem}table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #555;padding:.25rem .5rem;text-align:left}caption{text-align:left;font-weight:600}
.alert{background:#fde2e1;border:2px solid #9b1c1c;padding:.5rem;font-weight:600}figure{margin:0;max-width:48rem}
.chart canvas{width:100%!important;height:16rem!important}.chart{position:relative;height:18rem}
button{font:inherit;background:none;border:0;padding:0;cursor:pointer;text-decoration:underline}`;

function shell(title: string, script: string, data: Record<string, string> = {}): string {
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k}="${v.replaceAll('"', '&quot;')}"`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head><body${attrs}><main id="main"><p>Loading…</p></main>
<script type="module" src="/app/assets/${script}.js"></script></body></html>`;
}

const day = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '');

export function createAppRouter(deps: AppRoutesDeps): Router {
  const router = Router();
  const today = (): string => new Date().toISOString().slice(0, 10);
  const role = (res: Parameters<RequestHandler>[1], allowed: readonly string[]): void => {
    const access = res.locals.access as AccessContext | undefined;
    if (!access || !allowed.includes(access.role)) fail(forbidden(`This view is for the ${allowed.join(' or ')} role`));
  };

  router.get('/app/launch', (_req, res) => {
    res.type('html').send(shell('KHE trial: launching', 'launch', { target: 'page', 'client-id': deps.clientId }));
  });
  router.get('/app/coordinator-launch', (_req, res) => {
    res
      .type('html')
      .send(shell('KHE trial: launching', 'launch', { target: 'coordinator', 'client-id': deps.clientId }));
  });
  router.get('/app/page', (_req, res) => {
    res.type('html').send(shell('KHE trial status', 'trial-page'));
  });
  router.get('/app/coordinator', (_req, res) => {
    res.type('html').send(shell('KHE trial: study overview', 'coordinator-page'));
  });
  router.get('/app/assets/:name.js', async (req, res) => {
    const name = req.params.name as string;
    if (!isAppEntry(name)) fail(notFound(`No asset ${name}.js`));
    const js = (await appBundles()).get(name);
    if (!js) fail(notFound(`No asset ${name}.js`));
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('text/javascript').send(js);
  });

  router.get('/app/api/status/:patientId', deps.authenticate, async (req, res) => {
    role(res, ['clinician', 'admin']);
    const status = await loadTrialStatus(deps.db, deps.studies, req.params.patientId as string, {
      today: today(),
      plateletsCriticalBelow: deps.plateletsCriticalBelow,
    });
    if (!status) fail(notFound('This patient is not on the trial'));
    res.json(status);
  });

  router.get('/app/api/overview', deps.authenticate, async (_req, res) => {
    role(res, ['admin']);
    const rows: OverviewRow[] = [];
    const patients = new Set<string>();
    for (const s of await readByType(deps.db, 'ResearchSubject')) {
      const ref = (JSON.parse(s.content) as { individual?: { reference?: string } }).individual?.reference ?? '';
      if (ref.startsWith('Patient/')) patients.add(ref.slice('Patient/'.length));
    }
    for (const patientId of [...patients].sort()) {
      const st = await loadTrialStatus(deps.db, deps.studies, patientId, {
        today: today(),
        plateletsCriticalBelow: deps.plateletsCriticalBelow,
      });
      if (!st) continue;
      rows.push({
        patientId,
        arm: st.arm ?? '',
        nextVisit: st.nextVisit ? `${st.nextVisit.label} (${st.nextVisit.state})` : '',
        nextVisitWindow: st.nextVisit ? `${day(st.nextVisit.windowStart)} to ${day(st.nextVisit.windowEnd)}` : '',
        overdue: st.overdue.map((v) => v.label).join(', '),
        lastTrough: st.lastTrough ? `${Math.round(st.lastTrough.value * 100) / 100} (${day(st.lastTrough.date)})` : '',
        troughStatus: st.lastTrough?.status ?? '',
        safety: [st.critical, ...st.activeFlags.map((f) => f.text)].filter((x): x is string => Boolean(x)).join('; '),
      });
    }
    res.json(rows);
  });
  return router;
}
