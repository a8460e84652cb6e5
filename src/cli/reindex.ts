/**
 * Rewrites the search index rows of stored resources, through the running service's API, after an
 * upgrade that adds search parameters:
 *   npm run reindex -- QuestionnaireResponse AdverseEvent     (no type: every type the server stores)
 * ADAPTER_URL and admin credentials as for the other CLIs (src/cli/admin-client.ts). Interrupted,
 * it can simply be run again: a reindex changes no content and no version.
 */
import { SUPPORTED_RESOURCE_TYPES } from '../fhir/resource-types.ts';
import { adminCall } from './admin-client.ts';

const types = process.argv.slice(2);
try {
  for (const resourceType of types.length > 0 ? types : SUPPORTED_RESOURCE_TYPES) {
    let after = '0';
    let total = 0;
    for (;;) {
      const window = (await adminCall('POST', '/admin/reindex', { resourceType, after })) as {
        reindexed: number;
        next: string | null;
      };
      total += window.reindexed;
      if (window.next === null) break;
      after = window.next;
    }
    process.stdout.write(`${resourceType}: ${total} reindexed\n`);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
