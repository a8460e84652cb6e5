/**
 * What a token request is granted: requested ∩ the client's registered scopes ∩ its role ceiling
 * (OAuth lets the server grant less than asked, and says so in the response's `scope`).
 */
import type { Role } from './access-context.ts';
import { intersectPermissions, permissionsOf, permissionsToScopes, samePermissions } from './permissions.ts';
import { roleCeiling } from './roles.ts';
import { classifyScope, type ResourceScope } from './scopes.ts';

export type GrantResult = { ok: true; scopes: string[] } | { ok: false; error: 'invalid_scope'; description: string };

export function grantScopes(
  requested: readonly string[] | undefined,
  client: { role: Role; allowedScopes: readonly string[] },
): GrantResult {
  const asked: ResourceScope[] = [];
  const askedList = requested ?? client.allowedScopes;
  for (const raw of askedList) {
    const c = classifyScope(raw);
    if (c.kind === 'malformed') return { ok: false, error: 'invalid_scope', description: c.reason };
    if (c.kind === 'resource') asked.push(c.scope);
  }
  const allowed = client.allowedScopes
    .map((s) => classifyScope(s))
    .flatMap((c) => (c.kind === 'resource' ? [c.scope] : []));
  const askedPermissions = permissionsOf(asked);
  const granted = intersectPermissions(
    intersectPermissions(askedPermissions, permissionsOf(allowed)),
    roleCeiling(client.role),
  );
  if (granted.size === 0) {
    const patientOnly = asked.length > 0 && asked.every((s) => s.context === 'patient');
    return {
      ok: false,
      error: 'invalid_scope',
      description: patientOnly
        ? 'patient/ scopes need a patient context, which backend service tokens never have; request system/ scopes'
        : `none of the requested scopes is available to this client (role ${client.role})`,
    };
  }
  // Echo the client's own wording when nothing was narrowed; otherwise say exactly what was granted.
  if (samePermissions(granted, askedPermissions) && asked.every((s) => s.context !== 'patient')) {
    return { ok: true, scopes: [...new Set(asked.map((s) => s.raw))] };
  }
  return { ok: true, scopes: permissionsToScopes(granted) };
}
