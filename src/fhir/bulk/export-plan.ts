/**
 * Turns an ExportSpec into what the store runs per type: the _typeFilter queries parsed exactly as
 * FHIR search parses them, each carrying the blinded caller's exclusions, so an outcome assessor's
 * export leaves out what their searches leave out (src/auth/masking.ts).
 */
import type { AccessContext, Role } from '../../auth/access-context.ts';
import { assertQueryAllowed, blindedSearchExclusions, isBlinded } from '../../auth/masking.ts';
import type { SearchRequest } from '../../shared/search-request.ts';
import { parseSearch, serverFilter } from '../search/parse-search.ts';
import type { ExportSpec } from './export-spec.ts';

export interface TypePlan {
  resourceType: string;
  /** Empty: every resource of the type (in scope); otherwise any of these. */
  requests: SearchRequest[];
  /** A blinded caller may see nothing of this type: skip it. */
  hidden: boolean;
}

/** The AccessContext masking needs, rebuilt from a stored job (who asked, in which role). */
export function jobAccess(clientId: string, role: Role): AccessContext {
  return { clientId, clientName: clientId, role, scopes: [], tokenId: '' };
}

export function planType(spec: ExportSpec, resourceType: string, access: AccessContext): TypePlan {
  const filters = spec.typeFilters[resourceType] ?? [];
  const blinded = isBlinded(access);
  const hidden = blinded ? blindedSearchExclusions(resourceType) : { hideAll: false, exclude: [] };
  if (hidden.hideAll) return { resourceType, requests: [], hidden: true };
  const queries = filters.length > 0 ? filters : blinded ? [''] : [];
  const requests = queries.map((query) => {
    const params = new URLSearchParams(query);
    if (blinded) assertQueryAllowed(resourceType, params, access);
    const req = parseSearch(resourceType, params.entries(), true);
    for (const [code, value] of hidden.exclude) {
      const f = serverFilter(resourceType, code, value);
      if (f) req.exclusions.push(f);
    }
    return req;
  });
  return { resourceType, requests, hidden: false };
}

/**
 * Under Prefer: handling=lenient, a _typeFilter's unsupported search parameters are dropped as a
 * lenient search drops them (the filter then matches more, never less), each named in `ignored`
 * for the manifest's error file.
 */
export function lenientTypeFilters(
  typeFilters: Readonly<Record<string, string[]>>,
  ignored: string[],
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [resourceType, queries] of Object.entries(typeFilters)) {
    out[resourceType] = queries.map((query) => {
      const dropped = new Set<string>();
      parseSearch(resourceType, new URLSearchParams(query).entries(), false, undefined, (rawName, why) => {
        dropped.add(rawName);
        ignored.push(
          `_typeFilter ${resourceType}?${query}: search parameter ${why}; ignored (Prefer: handling=lenient)`,
        );
      });
      if (dropped.size === 0) return query;
      const kept = [...new URLSearchParams(query)].filter(([name]) => !dropped.has(name));
      return new URLSearchParams(kept).toString();
    });
  }
  return out;
}
