/**
 * Admin CLI for the dead-letter list, through the running service's API (the service owns the
 * store: with PGlite no second process may open it).
 *   npm run dead-letters -- list [open|replayed|discarded]
 *   npm run dead-letters -- replay [id …]
 *   npm run dead-letters -- discard <id> <reason>
 * ADAPTER_URL (default http://127.0.0.1:8080); credentials from ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET,
 * or the development admin client in DATA_DIR/dev-clients.json.
 */
import { adminCall as call } from './admin-client.ts';

const [command, ...args] = process.argv.slice(2);
try {
  let out: unknown;
  if (command === 'list')
    out = await call('GET', `/admin/dead-letters${args[0] ? `?status=${encodeURIComponent(args[0])}` : ''}`);
  else if (command === 'replay')
    out = await call('POST', '/admin/dead-letters/replay', args.length ? { ids: args } : {});
  else if (command === 'discard' && args[0] && args[1]) {
    out = await call('POST', `/admin/dead-letters/${encodeURIComponent(args[0])}/discard`, {
      reason: args.slice(1).join(' '),
    });
  } else {
    process.stderr.write('usage: dead-letters list [status] | replay [id …] | discard <id> <reason>\n');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
