/**
 * Browser: after the SMART launch, trade what the EHR gave the page (its id_token, or its access
 * token for the adapter to introspect) for the adapter's own session, and call the adapter's JSON
 * with it. Failures become sentences a clinician understands; no status line reaches the screen.
 */
import FHIR from 'fhirclient';
import { el } from './dom.ts';

type FhirClient = Awaited<ReturnType<typeof FHIR.oauth2.ready>>;

export type Problem = 'not-enrolled' | 'not-authorised' | 'sign-in' | 'unavailable';

export class PageProblem extends Error {
  readonly kind: Problem;
  constructor(kind: Problem, message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface Session {
  client: FhirClient;
  token: string;
  trialRole: string;
  studies: { registryId: string; shortName: string }[];
  mrnSystem: string | undefined;
}

const NOT_AUTHORISED = "You are not authorised to see this trial's data";
const UNAVAILABLE =
  'The trial data could not be loaded just now. Try again in a minute; if it keeps failing, call the trial coordinator.';
const SIGN_IN = 'The EHR did not confirm who you are. Open the page again from the patient’s chart.';

async function problemOf(res: Response, notFound: Problem): Promise<PageProblem> {
  let said: string | undefined;
  try {
    const body = (await res.json()) as { issue?: { details?: { text?: string }; diagnostics?: string }[] };
    said = body.issue?.[0]?.details?.text ?? body.issue?.[0]?.diagnostics;
  } catch {
    said = undefined;
  }
  if (res.status === 401) return new PageProblem('sign-in', SIGN_IN);
  if (res.status === 403) return new PageProblem('not-authorised', NOT_AUTHORISED);
  // The adapter's own 404 sentences are written for people ("This child is not enrolled in …").
  if (res.status === 404) return new PageProblem(notFound, said ?? UNAVAILABLE);
  return new PageProblem('unavailable', UNAVAILABLE);
}

export async function callAdapter<T>(url: string, token: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new PageProblem('unavailable', UNAVAILABLE);
  }
  if (!res.ok) throw await problemOf(res, 'not-enrolled');
  return (await res.json()) as T;
}

export async function startSession(): Promise<Session> {
  let client: FhirClient;
  try {
    client = await FHIR.oauth2.ready();
  } catch {
    throw new PageProblem('sign-in', SIGN_IN);
  }
  const tokenResponse = client.state.tokenResponse ?? {};
  let res: Response;
  try {
    res = await fetch('/app/api/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        iss: client.state.serverUrl,
        id_token: tokenResponse.id_token,
        access_token: tokenResponse.access_token,
      }),
    });
  } catch {
    throw new PageProblem('unavailable', UNAVAILABLE);
  }
  if (!res.ok) throw await problemOf(res, 'unavailable');
  const s = (await res.json()) as {
    session: string;
    trialRole: string;
    studies: Session['studies'];
    mrnSystem?: string;
  };
  return { client, token: s.session, trialRole: s.trialRole, studies: s.studies, mrnSystem: s.mrnSystem };
}

/** Replaces the page with one plain sentence (keeping the patient banner, if shown). */
export function showProblem(err: unknown): void {
  const main = document.getElementById('main') as HTMLElement;
  const problem = err instanceof PageProblem ? err : new PageProblem('unavailable', UNAVAILABLE);
  for (const n of [...main.children]) if (!n.classList.contains('banner')) n.remove();
  main.append(el('p', { class: 'message', role: 'alert', id: 'message' }, [problem.message]));
  document.body.dataset.ready = 'error';
  document.body.dataset.problem = problem.kind;
}
