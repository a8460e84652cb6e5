/**
 * Rewrites the search index rows of stored resources, through the running service's API, after an
 * upgrade that adds search parameters:
 *   npm run reindex -- QuestionnaireResponse AdverseEvent     (named types)
 *   npm run reindex                                          (the types the service says need it)
 *   npm run reindex -- --all                                 (every type)
 * ADAPTER_URL and admin credentials as for the other CLIs (src/cli/admin-client.ts). Interrupted,
 * it can simply be run again: a reindex changes no content and no version.
 */
import { SUPPORTED_RESOURCE_TYPES } from '../shared/resource-types.ts';
import { adminCall } from './admin-client.ts';

const args = process.argv.slice(2);
try {
  const types =
    args[0] === '--all'
      ? [...SUPPORTED_RESOURCE_TYPES]
      : args.length > 0
        ? args
        : ((await adminCall('GET', '/admin/reindex')) as { needed: string[] }).needed;
  if (types.length === 0) process.stdout.write('nothing to reindex\n');
  for (const resourceType of types) {
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
    await adminCall('POST', `/admin/reindex/${encodeURIComponent(resourceType)}/done`);
    process.stdout.write(`${resourceType}: ${total} reindexed\n`);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
