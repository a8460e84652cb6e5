/**
 * What a transaction must satisfy before anything in it runs: fullUrls are unique (bdl-7), and every
 * urn:uuid reference names an entry of the Bundle (http.html#trules: a placeholder nothing defines
 * would be stored as a reference to nothing). Each is a 400 naming the entry, as HAPI answers.
 */
import { badRequest, fail } from '../../shared/outcomes.ts';
import type { ParsedEntry } from './bundle-entries.ts';

export function checkTransactionEntries(entries: readonly ParsedEntry[]): void {
  const first = new Map<string, number>();
  for (const e of entries) {
    if (e.fullUrl === undefined) continue;
    const earlier = first.get(e.fullUrl);
    if (earlier !== undefined) {
      fail(
        badRequest(
          `Bundle.entry[${e.index}].fullUrl ${e.fullUrl} is also the fullUrl of Bundle.entry[${earlier}] (bdl-7: fullUrl must be unique)`,
          `Bundle.entry[${e.index}].fullUrl`,
        ),
      );
    }
    first.set(e.fullUrl, e.index);
  }
  for (const e of entries) {
    const dangling = findDangling(e.request.body, first, `Bundle.entry[${e.index}].resource`);
    if (dangling) {
      fail(
        badRequest(
          `Bundle.entry[${e.index}] refers to ${dangling.reference}, which no entry of the transaction has as its fullUrl`,
          dangling.path,
        ),
      );
    }
  }
}

function findDangling(
  value: unknown,
  fullUrls: ReadonlyMap<string, number>,
  path: string,
): { reference: string; path: string } | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findDangling(value[i], fullUrls, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'reference' && typeof v === 'string') {
      if (/^urn:uuid:/i.test(v) && !fullUrls.has(v)) return { reference: v, path: `${path}.reference` };
      continue;
    }
    const found = findDangling(v, fullUrls, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}
