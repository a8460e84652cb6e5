/** Drives a Bulk Data export over HTTP the way a client does (written for the tests). */
import type { Role } from '../../../src/auth/access-context.ts';
import type { ExportManifest } from '../../../src/fhir/bulk/manifest.ts';
import type { TestService } from '../../support/test-service.ts';

export const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };

export function pathOf(s: TestService, absolute: string): string {
  if (!absolute.startsWith(s.url)) throw new Error(`${absolute} is not under ${s.url}`);
  return absolute.slice(s.url.length);
}

/** Kick-off; returns the status URL (absolute). */
export async function kickoff(
  s: TestService,
  path: string,
  init: { role?: Role; method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<string> {
  const res = await s.call(path, { ...init, headers: { ...ASYNC, ...init.headers } });
  if (res.status !== 202) throw new Error(`kick-off ${path}: ${res.status} ${await res.text()}`);
  const location = res.headers.get('content-location');
  if (!location) throw new Error('no Content-Location');
  return location;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls (respecting the server's minimum interval) until the manifest or a failure. */
export async function waitForManifest(
  s: TestService,
  statusUrl: string,
  role: Role = 'admin',
  timeoutMs = 60_000,
  intervalMs = 150,
): Promise<ExportManifest> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await s.call(pathOf(s, statusUrl), { role });
    if (res.status === 200) return (await res.json()) as ExportManifest;
    if (res.status !== 202 && res.status !== 429) throw new Error(`poll: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    await sleep(intervalMs);
  }
  throw new Error('export did not finish in time');
}

export async function download(s: TestService, url: string, role: Role = 'admin'): Promise<string[]> {
  const res = await s.call(pathOf(s, url), { role });
  if (res.status !== 200) throw new Error(`download: ${res.status} ${await res.text()}`);
  if (!res.headers.get('content-type')?.startsWith('application/fhir+ndjson')) throw new Error('not NDJSON');
  return (await res.text()).split('\n').filter((l) => l.length > 0);
}
