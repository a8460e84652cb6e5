/**
 * The role a client holds now, as opposed to the one in its access token (valid up to 5 minutes, an
 * IdP's for longer): what an export download checks, so that files made for a role the client no
 * longer has are not served with a token issued before the change (issue 17).
 */
import type { AccessContext, Role } from './access-context.ts';
import type { ClientRegistry } from './client-registry.ts';

/** Undefined when the client has been removed or disabled. */
export function currentRole(registry: ClientRegistry, access: AccessContext): Role | undefined {
  if (registry.isDisabled(access.clientId)) return undefined;
  const client = registry.current(access.clientId);
  // An IdP's role claim is the IdP's decision, which the service cannot look up again.
  if (access.roleSource === 'claim') return access.role;
  if (client) return client.role;
  // An unregistered IdP client holds the configured default role; an own client removed holds none.
  return access.roleSource === 'default' ? access.role : undefined;
}
