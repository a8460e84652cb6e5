/** How the admin CLIs reach the running service: a client-credentials token, then JSON calls. */
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

export async function adminCall(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}
