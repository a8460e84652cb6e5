/**
 * Whether stored index rows match the search parameters this version indexes. At start-up a type
 * with nothing stored takes the current signature (nothing to rewrite); a type whose stored rows
 * predate its parameters is reported until `npm run reindex` has rewritten it and recorded it done.
 */

import { searchParamSignature } from '../fhir/search/search-params.ts';
import type { Logger } from '../shared/logger.ts';
import { SUPPORTED_RESOURCE_TYPES } from '../shared/resource-types.ts';
import type { Queryable } from '../store/db.ts';
import { readIndexSignatures, recordIndexSignature, typesWithResources } from '../store/search-index-state.ts';

export interface ReindexState {
  resourceType: string;
  state: 'current' | 'needed';
}

/** Types whose recorded signature differs from this version's, split by whether anything is stored. */
async function differingTypes(q: Queryable): Promise<{ stored: string[]; empty: string[] }> {
  const recorded = await readIndexSignatures(q);
  const differing = SUPPORTED_RESOURCE_TYPES.filter((t) => recorded.get(t) !== searchParamSignature(t));
  if (differing.length === 0) return { stored: [], empty: [] };
  const stored = await typesWithResources(q, differing);
  return { stored: differing.filter((t) => stored.has(t)), empty: differing.filter((t) => !stored.has(t)) };
}

/** The types whose stored index rows were written under other search parameters than these. */
export async function typesNeedingReindex(q: Queryable): Promise<string[]> {
  return (await differingTypes(q)).stored;
}

/** Start-up: record the signature of every type with nothing stored; warn about the rest. */
export async function checkSearchIndex(q: Queryable, logger: Logger): Promise<string[]> {
  const { stored: needed, empty } = await differingTypes(q);
  for (const t of empty) await recordIndexSignature(q, t, searchParamSignature(t));
  if (needed.length > 0) {
    logger.warn('stored search index rows predate these types’ search parameters: run npm run reindex', {
      types: needed,
      command: `npm run reindex -- ${needed.join(' ')}`,
    });
  }
  return needed;
}

/** After a full pass over a type: its rows now follow the current parameters. */
export async function recordReindexed(q: Queryable, resourceType: string): Promise<void> {
  await recordIndexSignature(q, resourceType, searchParamSignature(resourceType));
}
