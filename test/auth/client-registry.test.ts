import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuthLogger } from '../../src/auth/auth-logger.ts';
import { ClientRegistry, readClientsFile } from '../../src/auth/client-registry.ts';
import { hashSecret } from '../../src/auth/secret-hash.ts';
import { authConfig, clientKey } from './auth-fixtures.ts';

function recordingLogger(): AuthLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  };
  return { lines, info: log('info'), warn: log('warn'), error: log('error') };
}

describe('ClientRegistry', () => {
  let dir: string;
  let file: string;
  let secretHash: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'khe-auth-clients-'));
    file = join(dir, 'clients.json');
    secretHash ??= await hashSecret('registry-test-secret');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (clients: unknown[]): void => writeFileSync(file, JSON.stringify({ clients }));

  it('loads clients with inline JWKS, JWKS URL or secret hash', async () => {
    const key = await clientKey('ES384');
    write([
      {
        id: 'lab',
        name: 'Lab',
        role: 'ehr-feed',
        allowedScopes: ['system/Observation.cru'],
        jwks: { keys: [key.publicJwk] },
      },
      {
        id: 'epic',
        name: 'Epic',
        role: 'ehr-feed',
        allowedScopes: ['system/*.cru'],
        jwksUrl: 'https://epic.example/jwks',
      },
      { id: 'reg', name: 'Registry', role: 'research', allowedScopes: ['system/*.read'], secretHash },
    ]);
    const registry = await ClientRegistry.open(authConfig({ clientsFile: file, production: true }));
    expect(registry.devClients).toBeUndefined();
    expect(registry.list().map((c) => c.id)).toEqual(['lab', 'epic', 'reg']);
    expect(registry.get('reg')?.role).toBe('research');
    expect(registry.get('nobody')).toBeUndefined();
  });

  it.each([
    [[{ id: 'a', name: 'A', role: 'root', allowedScopes: ['system/*.rs'], secretHash: 'x' }], /clients\.0\.role/],
    [
      [{ id: 'a', name: 'A', role: 'admin', allowedScopes: ['system/*.rs'] }],
      /exactly one of jwks, jwksUrl or secretHash/,
    ],
    [
      [{ id: 'a', name: 'A', role: 'admin', allowedScopes: ['system/Observation.xyz'], secretHash: 'S' }],
      /not a usable/,
    ],
    [[{ id: 'a', name: 'A', role: 'admin', allowedScopes: ['patient/*.rs'], secretHash: 'S' }], /not a usable/],
    [[{ id: 'a:b', name: 'A', role: 'admin', allowedScopes: ['system/*.rs'], secretHash: 'S' }], /clients\.0\.id/],
    [
      [{ id: 'a', name: 'A', role: 'admin', allowedScopes: ['system/*.rs'], secretHash: 'plain' }],
      /secretHash must be/,
    ],
    [
      [
        {
          id: 'a',
          name: 'A',
          role: 'admin',
          allowedScopes: ['system/*.rs'],
          jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'x', y: 'y', d: 'secret' }] },
        },
      ],
      /public keys only/,
    ],
    [
      [
        { id: 'a', name: 'A', role: 'admin', allowedScopes: ['system/*.rs'], secretHash: 'S' },
        { id: 'a', name: 'B', role: 'admin', allowedScopes: ['system/*.rs'], secretHash: 'S' },
      ],
      /duplicate client id a/,
    ],
  ])(
    'refuses an invalid file at start-up with AUTH_CLIENTS_INVALID naming the problem (%#)',
    async (clients, message) => {
      write((clients as Record<string, unknown>[]).map((c) => (c.secretHash === 'S' ? { ...c, secretHash } : c)));
      let error: unknown;
      try {
        readClientsFile(file);
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ name: 'AppError', code: 'AUTH_CLIENTS_INVALID' });
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(file);
      await expect(ClientRegistry.open(authConfig({ clientsFile: file }))).rejects.toMatchObject({
        code: 'AUTH_CLIENTS_INVALID',
      });
    },
  );

  it('refuses a missing or non-JSON file at start-up', async () => {
    expect(() => readClientsFile(join(dir, 'missing.json'))).toThrow(
      expect.objectContaining({ code: 'AUTH_CLIENTS_INVALID', message: expect.stringContaining('missing.json') }),
    );
    writeFileSync(file, '{ not json');
    expect(() => ClientRegistry.fromFile(file)).toThrow(expect.objectContaining({ code: 'AUTH_CLIENTS_INVALID' }));
  });

  it('reloads when the file changes, checking at most once a second', () => {
    let now = 1_000_000;
    const logger = recordingLogger();
    write([{ id: 'a', name: 'A', role: 'research', allowedScopes: ['system/*.rs'], secretHash }]);
    const registry = ClientRegistry.fromFile(file, { now: () => now, logger });
    expect(registry.get('a')?.role).toBe('research');

    write([
      { id: 'a', name: 'A', role: 'clinician', allowedScopes: ['system/*.rs'], secretHash },
      { id: 'b', name: 'B', role: 'admin', allowedScopes: ['system/*.cruds'], secretHash },
    ]);
    now += 500; // within the second: not looked at yet
    expect(registry.get('b')).toBeUndefined();
    now += 600;
    expect(registry.get('b')?.role).toBe('admin');
    expect(registry.get('a')?.role).toBe('clinician');
    expect(registry.generation).toBe(1);
    expect(logger.lines.some((l) => l.startsWith('info clients file reloaded'))).toBe(true);

    // removing a client takes effect on the next check too
    write([{ id: 'b', name: 'B', role: 'admin', allowedScopes: ['system/*.cruds'], secretHash }]);
    now += 1000;
    expect(registry.get('a')).toBeUndefined();
  });

  it('keeps the previous clients and logs when a reload finds an invalid file', () => {
    let now = 0;
    const logger = recordingLogger();
    write([{ id: 'a', name: 'A', role: 'research', allowedScopes: ['system/*.rs'], secretHash }]);
    const registry = ClientRegistry.fromFile(file, { now: () => now, logger });
    writeFileSync(file, '{"clients": [ {"id": "a", "name": "A", "role": "research"');
    now += 1000;
    expect(registry.get('a')?.role).toBe('research');
    expect(logger.lines.filter((l) => l.startsWith('error clients file is invalid'))).toHaveLength(1);
    now += 1000;
    registry.get('a');
    // logged once per bad edit, not once a second
    expect(logger.lines.filter((l) => l.startsWith('error clients file is invalid'))).toHaveLength(1);
    write([{ id: 'c', name: 'C', role: 'admin', allowedScopes: ['system/*.rs'], secretHash }]);
    now += 1000;
    expect(registry.get('c')?.role).toBe('admin');
  });
});
