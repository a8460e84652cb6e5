import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROLES } from '../../src/auth/access-context.ts';
import { ClientRegistry, ensureDevClients } from '../../src/auth/client-registry.ts';
import { verifySecret } from '../../src/auth/secret-hash.ts';
import { AppError } from '../../src/shared/app-error.ts';
import { authConfig } from './auth-fixtures.ts';

describe('development clients', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'khe-auth-dev-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates one client per role in DATA_DIR/dev-clients.json with mode 0600', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const dev = await ensureDevClients(authConfig({ dataDir }));
    expect(dev?.created).toBe(true);
    const file = join(dataDir, 'dev-clients.json');
    expect(dev?.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      clients: { clientId: string; clientSecret: string; role: string }[];
    };
    expect(saved.clients.map((c) => c.role).sort()).toEqual([...ROLES].sort());
    for (const c of saved.clients) {
      expect(c.clientSecret.length).toBeGreaterThanOrEqual(40);
      const registered = dev?.clients.find((r) => r.id === c.clientId);
      expect(registered?.role).toBe(c.role);
      expect(await verifySecret(c.clientSecret, registered?.secretHash ?? '')).toBe(true);
    }
  });

  it('reuses the file on the next start, so credentials survive restarts', async () => {
    const first = await ensureDevClients(authConfig({ dataDir: dir }));
    const second = await ensureDevClients(authConfig({ dataDir: dir }));
    expect(second?.created).toBe(false);
    expect(statSync(join(dir, 'dev-clients.json')).mode & 0o777).toBe(0o600);
    expect(second?.credentials.map((c) => c.clientSecret)).toEqual(first?.credentials.map((c) => c.clientSecret));
  });

  it('returns a one-line curl command for an admin token', async () => {
    const dev = await ensureDevClients(authConfig({ dataDir: dir, publicBaseUrl: 'http://127.0.0.1:9999' }));
    const admin = dev?.credentials.find((c) => c.role === 'admin');
    expect(dev?.curl).toBe(
      `curl -s -u '${admin?.clientId}:${admin?.clientSecret}' -d grant_type=client_credentials http://127.0.0.1:9999/auth/token`,
    );
    expect(dev?.curl).not.toContain('\n');
  });

  it('refuses to run without a clients file in production, and never writes dev clients there', async () => {
    const config = authConfig({ dataDir: dir, production: true });
    await expect(ensureDevClients(config)).rejects.toMatchObject({ name: 'AppError', code: 'AUTH_CLIENTS_REQUIRED' });
    await expect(ClientRegistry.open(config)).rejects.toBeInstanceOf(AppError);
    expect(() => statSync(join(dir, 'dev-clients.json'))).toThrow();
  });

  it('does nothing when a clients file is configured', async () => {
    expect(
      await ensureDevClients(authConfig({ dataDir: dir, clientsFile: join(dir, 'clients.json') })),
    ).toBeUndefined();
  });

  it('refuses a corrupt file instead of silently replacing credentials', async () => {
    writeFileSync(join(dir, 'dev-clients.json'), '{"clients": [', { mode: 0o600 });
    await expect(ensureDevClients(authConfig({ dataDir: dir }))).rejects.toMatchObject({
      code: 'AUTH_DEV_CLIENTS_INVALID',
    });
    writeFileSync(join(dir, 'dev-clients.json'), '{"clients":[{"nope":1}]}', { mode: 0o600 });
    await expect(ensureDevClients(authConfig({ dataDir: dir }))).rejects.toMatchObject({
      code: 'AUTH_DEV_CLIENTS_INVALID',
    });
  });

  it('backs ClientRegistry.open when no clients file is configured', async () => {
    const registry = await ClientRegistry.open(authConfig({ dataDir: dir }));
    expect(registry.devClients).toBeDefined();
    expect(registry.get('dev-admin')?.role).toBe('admin');
    expect(registry.get('dev-outcome-assessor')?.role).toBe('outcome-assessor');
  });
});
