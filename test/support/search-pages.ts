/**
 * Paging through a search over HTTP by its Bundles' next links, for tests that compare two plans of
 * the same search page by page (the combined indexes against the general path).
 */
import type { Bundle } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { TestService } from './test-service.ts';

/** One page: its entries' ids and the next link as a path under /fhir/. */
export async function searchPage(s: TestService, path: string): Promise<{ ids: string[]; next: string | undefined }> {
  const res = await s.call(path);
  const body = (await res.json()) as Bundle;
  expect(res.status, JSON.stringify(body)).toBe(200);
  const next = body.link?.find((l) => l.relation === 'next')?.url;
  return { ids: (body.entry ?? []).map((e) => e.resource?.id ?? ''), next: next?.slice(next.indexOf('/fhir/')) };
}

/** Walks two Observation searches page by page together, running `between` after the first pages. */
export async function walkBoth(
  s: TestService,
  a: string,
  b: string,
  between?: () => Promise<void>,
  maxPages = 200,
): Promise<[string[], string[]]> {
  const out: [string[], string[]] = [[], []];
  const next: [string | undefined, string | undefined] = [`/fhir/Observation?${a}`, `/fhir/Observation?${b}`];
  for (let n = 0; (next[0] || next[1]) && n < maxPages; n++) {
    for (const k of [0, 1] as const) {
      const path = next[k];
      if (!path) continue;
      const p = await searchPage(s, path);
      out[k].push(...p.ids);
      next[k] = p.next;
    }
    if (n === 0 && between) await between();
  }
  return out;
}
