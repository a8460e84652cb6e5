import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AccessContext } from '../../src/auth/access-context.ts';
import { ClientRegistry } from '../../src/auth/client-registry.ts';
import { currentRole } from '../../src/auth/current-role.ts';
import { hashSecret } from '../../src/auth/secret-hash.ts';

describe('currentRole: the role a client holds now, not the one in its token', () => {
  let dir: string;
  let file: string;
  let secretHash: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'khe-current-role-'));
    file = join(dir, 'clients.json');
    secretHash ??= await hashSecret('current-role-secret');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const write = (clients: { id: string; role: string; disabled?: boolean }[]): void =>
    writeFileSync(
      file,
      JSON.stringify({
        clients: clients.map((c) => ({ ...c, name: c.id, allowedScopes: ['system/*.rs'], secretHash })),
      }),
    );
  const access = (clientId: string, extra: Partial<AccessContext> = {}): AccessContext => ({
    clientId,
    clientName: clientId,
    role: 'research',
    scopes: ['system/*.rs'],
    tokenId: 't',
    ...extra,
  });

  it('follows an edit of the clients file at once, whatever the once-a-second reload', () => {
    write([{ id: 'a', role: 'research' }]);
    const registry = ClientRegistry.fromFile(file, { now: () => 0 });
    expect(currentRole(registry, access('a'))).toBe('research');
    write([
      { id: 'a', role: 'outcome-assessor' },
      { id: 'padding-to-change-the-size', role: 'research' },
    ]);
    // The throttled lookup still sees the old entry; the current role does not.
    expect(registry.get('a')?.role).toBe('research');
    expect(currentRole(registry, access('a'))).toBe('outcome-assessor');
  });

  it('has no role for a removed or disabled client; a disabled one gets no registry entry', () => {
    write([
      { id: 'a', role: 'research', disabled: true },
      { id: 'b', role: 'research' },
    ]);
    const registry = ClientRegistry.fromFile(file);
    expect(currentRole(registry, access('a'))).toBeUndefined();
    expect(registry.get('a')).toBeUndefined();
    expect(registry.isDisabled('a')).toBe(true);
    expect(currentRole(registry, access('gone'))).toBeUndefined();
    expect(registry.list().map((c) => c.id)).toEqual(['b']);
  });

  it('keeps an IdP role claim or default role, which the service cannot look up again', () => {
    write([{ id: 'b', role: 'admin' }]);
    const registry = ClientRegistry.fromFile(file);
    expect(currentRole(registry, access('idp-client', { roleSource: 'claim' }))).toBe('research');
    expect(currentRole(registry, access('idp-client', { roleSource: 'default' }))).toBe('research');
    // A registered IdP client without a role claim holds its registered role.
    expect(currentRole(registry, access('b', { roleSource: 'default' }))).toBe('admin');
    expect(currentRole(registry, access('b'))).toBe('admin');
  });
});
