/**
 * Reindex: rewrites the search index rows of stored resources from their current content, after an
 * upgrade that adds or changes search parameters (as HAPI's $reindex). Work goes in keyset windows
 * of current versions, each in its own transaction with its rows locked, so writes carry on
 * meanwhile and a run can stop and resume anywhere: the caller keeps `next`. No state in memory.
 */
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexRows } from '../fhir/search/index-values.ts';
import type { Db } from '../store/db.ts';
import { lockCurrentWindow, replaceIndexRows } from '../store/resource-store.ts';

export interface ReindexWindow {
  resourceType: string;
  reindexed: number;
  /** Where the next window starts; null when the type is done. */
  next: string | null;
}

export async function reindexWindow(
  db: Db,
  baseUrl: string,
  resourceType: string,
  after: string,
  limit: number,
): Promise<ReindexWindow> {
  return db.transaction(async (tx) => {
    const rows = await lockCurrentWindow(tx, resourceType, after, limit);
    for (const row of rows) {
      const resource = JSON.parse(row.content) as Resource;
      await replaceIndexRows(tx, resourceType, row.id, extractIndexRows(resource, baseUrl));
    }
    return {
      resourceType,
      reindexed: rows.length,
      next: rows.length < limit ? null : (rows[rows.length - 1]?.seq ?? null),
    };
  });
}
