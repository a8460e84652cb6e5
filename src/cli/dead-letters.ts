/**
 * Admin CLI for the dead-letter list, through the running service's API (the service owns the
 * store: with PGlite no second process may open it).
 *   npm run dead-letters -- list [open|replayed|discarded]
 *   npm run dead-letters -- replay [id …]
 *   npm run dead-letters -- discard <id> <reason>
 * ADAPTER_URL (default http://127.0.0.1:8080); credentials from ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET,
 * or the development admin client in DATA_DIR/dev-clients.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const url = (process.env.ADAPTER_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');

function credentials(): { id: string; secret: string } {
  if (process.env.ADMIN_CLIENT_ID && process.env.ADMIN_CLIENT_SECRET) {
    return { id: process.env.ADMIN_CLIENT_ID, secret: process.env.ADMIN_CLIENT_SECRET };
  }
  const file = join(process.env.DATA_DIR ?? './data', 'dev-clients.json');
  const dev = JSON.parse(readFileSync(file, 'utf8')) as {
    clients: { clientId: string; clientSecret: string; role: string }[];
  };
  const admin = dev.clients.find((c) => c.role === 'admin');
  if (!admin) throw new Error(`no admin client in ${file}`);
  return { id: admin.clientId, secret: admin.clientSecret };
}

async function token(): Promise<string> {
  const { id, secret } = credentials();
  const res = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  if (!res.ok) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function call(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

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
