/**
 * Local development clients, one per role, so that `npm start` on a fresh checkout can be tried at
 * once. Their secrets are kept in clear in DATA_DIR/dev-clients.json (mode 0600, reused across
 * restarts so credentials stay stable). Never in production: there a clients file is required.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { appError } from '../shared/app-error.ts';
import { ROLES, type Role } from './access-context.ts';
import { type AuthConfig, authUrls } from './auth-config.ts';
import type { RegisteredClient } from './client-schema.ts';
import { hashSecret, parseSecretHash } from './secret-hash.ts';

export const DEV_CLIENTS_FILE = 'dev-clients.json';

const DevClientSchema = z.object({
  clientId: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/),
  clientSecret: z.string().min(16),
  role: z.enum(ROLES),
  name: z.string().min(1).optional(),
  /** Saved so restarts need not re-run scrypt; derived from clientSecret, so not a secret itself. */
  secretHash: z.string().optional(),
});
const DevFileSchema = z.object({ clients: z.array(DevClientSchema) });

export type DevClientCredential = z.infer<typeof DevClientSchema>;

export interface DevClients {
  file: string;
  clients: RegisteredClient[];
  credentials: DevClientCredential[];
  /** Gets an admin token with client_secret_basic; for the start-up log. */
  curl: string;
  /** False when an existing file was reused. */
  created: boolean;
}

/** Every scope; each dev client ends up with exactly its role's ceiling (see scope-grant.ts). */
const DEV_SCOPES = ['system/*.cruds'];

async function newCredential(role: Role): Promise<DevClientCredential> {
  const clientSecret = randomBytes(32).toString('base64url');
  return {
    clientId: `dev-${role}`,
    clientSecret,
    role,
    name: `Development ${role} client`,
    secretHash: await hashSecret(clientSecret),
  };
}

async function readExisting(file: string): Promise<DevClientCredential[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = DevFileSchema.safeParse(json);
  if (!parsed.success) {
    throw appError('AUTH_DEV_CLIENTS_INVALID', file);
  }
  return parsed.data.clients;
}

async function writePrivate(file: string, credentials: DevClientCredential[], exclusive: boolean): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const note =
    'Local development API clients. Secrets in clear: never copy them to a shared or production system. ' +
    'To change a secret, delete this file (secretHash must match clientSecret).';
  await writeFile(tmp, `${JSON.stringify({ note, clients: credentials }, null, 2)}\n`, { mode: 0o600 });
  try {
    if (!exclusive) {
      await rename(tmp, file);
      return true;
    }
    // link() fails when the file exists: of two processes starting together, exactly one writes.
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

export async function ensureDevClients(config: AuthConfig): Promise<DevClients | undefined> {
  if (config.clientsFile) return undefined;
  if (config.production) {
    throw appError(
      'AUTH_CLIENTS_REQUIRED',
      'production needs a clients file (CLIENTS_FILE); development clients are never created in production',
    );
  }
  await mkdir(config.dataDir, { recursive: true });
  const file = join(config.dataDir, DEV_CLIENTS_FILE);
  let credentials = await readExisting(file);
  let created = false;
  if (credentials === undefined) {
    const fresh = await Promise.all(ROLES.map(newCredential));
    created = await writePrivate(file, fresh, true);
    credentials = created ? fresh : ((await readExisting(file)) ?? fresh);
  } else {
    const missing = ROLES.filter((r) => !credentials?.some((c) => c.role === r));
    if (missing.length > 0) {
      credentials = [...credentials, ...(await Promise.all(missing.map(newCredential)))];
      await writePrivate(file, credentials, false);
    }
    if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  }
  const clients: RegisteredClient[] = [];
  for (const c of credentials) {
    const secretHash = c.secretHash && parseSecretHash(c.secretHash) ? c.secretHash : await hashSecret(c.clientSecret);
    clients.push({ id: c.clientId, name: c.name ?? c.clientId, role: c.role, allowedScopes: DEV_SCOPES, secretHash });
  }
  const admin = credentials.find((c) => c.role === 'admin') ?? credentials[0];
  const curl = admin
    ? `curl -s -u '${admin.clientId}:${admin.clientSecret}' -d grant_type=client_credentials ${authUrls(config).tokenUrl}`
    : '';
  return { file, clients, credentials, curl, created };
}
