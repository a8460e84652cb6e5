/** What the HTTP app needs from access control, so the app does not depend on how it is built. */
import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import type { RequestHandler, Router } from 'express';
import type { AccessContext, Role } from '../auth/access-context.ts';
import type { Interaction } from '../auth/scopes.ts';

export interface AuthLayer {
  /** Token endpoint, SMART discovery and the JWKS: public routes. */
  router: Router;
  /** Verifies the bearer token and sets res.locals.access, or answers 401. */
  authenticate: RequestHandler;
  /** Per-client rate limit (after authenticate). */
  rateLimit: RequestHandler;
  security: CapabilityStatementRestSecurity;
  /** Throws a 403 OperationOutcomeError when access does not allow the interaction. */
  authorize(access: AccessContext, resourceType: string, interaction: Interaction): void;
  /** The client's role now (clients file), or undefined when removed or disabled (src/auth/current-role.ts). */
  currentRole?(access: AccessContext): Role | undefined;
  close?(): Promise<void>;
}
