/**
 * Admin CLI for the write-back outbox, through the running service's API (the service owns the
 * store: with PGlite no second process may open it).
 *   npm run outbox -- list [dead|pending|delivered|discarded]
 *   npm run outbox -- retry [id …]
 *   npm run outbox -- discard <id> <reason>
 *   npm run outbox -- jobs
 * ADAPTER_URL (default http://127.0.0.1:8080); credentials from ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET,
 * or the development admin client in DATA_DIR/dev-clients.json.
 */
import { adminCall } from './admin-client.ts';

const [command, ...args] = process.argv.slice(2);
try {
  let out: unknown;
  if (command === 'list') out = await adminCall('GET', `/admin/outbox?status=${encodeURIComponent(args[0] ?? 'dead')}`);
  else if (command === 'retry') out = await adminCall('POST', '/admin/outbox/retry', args.length ? { ids: args } : {});
  else if (command === 'discard' && args[0] && args[1]) {
    out = await adminCall('POST', `/admin/outbox/${encodeURIComponent(args[0])}/discard`, {
      reason: args.slice(1).join(' '),
    });
  } else if (command === 'jobs') out = await adminCall('GET', '/admin/jobs');
  else {
    process.stderr.write('usage: outbox list [status] | retry [id …] | discard <id> <reason> | jobs\n');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
