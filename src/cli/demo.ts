/**
 * `npm run demo`: loads the SYNTHETIC cohort (./synthetic-cohort.ts, 30 invented children, no
 * patient data) into the running service through its API, as a coordinator and an EHR feed would:
 * Patients and ResearchSubjects as admin, each child's results as one transaction from the feed,
 * then an outcome recomputation. Afterwards the trial has records, outcomes, MeasureReports, and
 * the coordinator overview lists the children. Run again, it adds nothing (conditional writes).
 * ADAPTER_URL (default http://127.0.0.1:8080) and DATA_DIR (its development clients) as for the other CLIs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bundle, BundleEntry, Coding } from '@medplum/fhirtypes';
import { feedBundle, type SyntheticSubject, syntheticCohort } from './synthetic-cohort.ts';

/** HL7's label for test data, on every resource the demo writes itself. */
export const SYNTHETIC_TAG: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  code: 'HTEST',
  display: 'test health data (synthetic demo cohort)',
};
const MRN_SYSTEM = 'urn:synthetic:mrn';
const SUBJECT_SYSTEM = 'urn:synthetic:research-subject';

type DemoRole = 'admin' | 'ehr-feed';

export interface DemoClients {
  /** Client id and secret of a client of each role. */
  credentials(role: DemoRole): { id: string; secret: string };
}

export interface DemoResult {
  subjects: number;
  results: number;
  measureReports: number;
  seconds: number;
}

/** The development clients the service wrote into DATA_DIR at start-up. */
export function devClients(dataDir: string): DemoClients {
  const file = join(dataDir, 'dev-clients.json');
  const dev = JSON.parse(readFileSync(file, 'utf8')) as {
    clients: { clientId: string; clientSecret: string; role: string }[];
  };
  return {
    credentials(role) {
      const c = dev.clients.find((x) => x.role === role);
      if (!c) throw new Error(`no ${role} client in ${file}`);
      return { id: c.clientId, secret: c.clientSecret };
    },
  };
}

function client(baseUrl: string, clients: DemoClients) {
  const tokens = new Map<DemoRole, string>();
  const token = async (role: DemoRole): Promise<string> => {
    const cached = tokens.get(role);
    if (cached) return cached;
    const { id, secret } = clients.credentials(role);
    const res = await fetch(`${baseUrl}/auth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    if (!res.ok) throw new Error(`token for ${role}: ${res.status} ${await res.text()}`);
    const t = ((await res.json()) as { access_token: string }).access_token;
    tokens.set(role, t);
    return t;
  };
  return async (role: DemoRole, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await token(role)}`,
        'content-type': 'application/fhir+json',
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as unknown;
  };
}

/** The feed's transaction for one child, each result created only if its identifier is new. */
function demoFeedBundle(s: SyntheticSubject): Bundle {
  const bundle = feedBundle(s);
  bundle.entry = (bundle.entry ?? []).map((e): BundleEntry => {
    const id = (e.resource as { identifier?: { system?: string; value?: string }[] }).identifier?.[0];
    return {
      ...e,
      request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${id?.system}|${id?.value}` },
    };
  });
  return bundle;
}

export async function loadDemo(
  baseUrl: string,
  clients: DemoClients,
  log: (line: string) => void = () => {},
): Promise<DemoResult> {
  const started = performance.now();
  const call = client(baseUrl.replace(/\/$/, ''), clients);
  const cohort = syntheticCohort();
  const meta = { tag: [SYNTHETIC_TAG] };
  for (const s of cohort) {
    await call('admin', 'PUT', `/fhir/Patient/${s.patientId}`, {
      resourceType: 'Patient',
      id: s.patientId,
      meta,
      identifier: [{ system: MRN_SYSTEM, value: s.mrn }],
      name: [{ text: `Synthetic child ${s.index + 1}` }],
      birthDate: s.birthDate,
    });
    await call(
      'admin',
      'POST',
      '/fhir/ResearchSubject',
      {
        resourceType: 'ResearchSubject',
        meta,
        identifier: [{ system: SUBJECT_SYSTEM, value: s.patientId }],
        status: 'on-study',
        study: { reference: 'ResearchStudy/nct04775173' },
        individual: { reference: `Patient/${s.patientId}` },
        assignedArm: s.arm,
        period: { start: s.start },
      },
      { 'if-none-exist': `identifier=${SUBJECT_SYSTEM}|${s.patientId}` },
    );
  }
  log(`enrolled ${cohort.length} synthetic children`);
  let results = 0;
  for (const s of cohort) {
    await call('ehr-feed', 'POST', '/fhir', demoFeedBundle(s));
    results += s.values.length;
  }
  log(`pushed ${results} synthetic results from the EHR feed`);
  // Computed before answering, so the outcomes are there when the demo says it is done.
  const recomputed = (await call('admin', 'POST', '/admin/outcomes/recompute?scope=all&wait=true')) as {
    measureReports?: number;
  };
  const reports = (await call('admin', 'GET', '/fhir/MeasureReport?_summary=count')) as { total?: number };
  const result: DemoResult = {
    subjects: cohort.length,
    results,
    measureReports: reports.total ?? recomputed.measureReports ?? 0,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
  log(`outcomes computed: ${result.measureReports} MeasureReports (${result.seconds} s)`);
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = (process.env.ADAPTER_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  try {
    await loadDemo(url, devClients(process.env.DATA_DIR ?? './data'), (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(
      `the SYNTHETIC demo cohort is loaded: open ${url}/ and the coordinator overview at ${url}/app/coordinator-launch\n`,
    );
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
