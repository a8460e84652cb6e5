/**
 * The per-interaction check the FHIR layer runs (also for each Bundle entry, since SMART has no
 * batch or transaction scopes): role ceiling and token scopes, or 403.
 */
import type { RequestHandler } from 'express';
import { forbidden, OperationOutcomeError } from '../shared/outcomes.ts';
import type { AccessContext } from './access-context.ts';
import { roleAllows } from './roles.ts';
import { type Interaction, scopesAllow } from './scopes.ts';

export function requireAccess(access: AccessContext, resourceType: string, interaction: Interaction): void {
  if (!roleAllows(access.role, resourceType, interaction)) {
    throw new OperationOutcomeError(
      forbidden(`Role ${access.role} may not ${interaction} ${resourceType} (client ${access.clientId})`),
    );
  }
  if (!scopesAllow(access.scopes, resourceType, interaction)) {
    throw new OperationOutcomeError(
      forbidden(`The access token's scopes do not allow ${interaction} on ${resourceType} (client ${access.clientId})`),
    );
  }
}

/** Express guard for the admin API: after authentication, anyone but the admin role gets a 403 saying `what`. */
export function adminOnly(what: string): RequestHandler {
  return (_req, res, next) => {
    const access = res.locals.access as AccessContext | undefined;
    if (access?.role !== 'admin') throw new OperationOutcomeError(forbidden(`${what} for the admin role`));
    next();
  };
}
