/**
 * Builds the access-control layer from the service configuration: client registry (a clients file,
 * or development clients outside production), the shared signing key, the token endpoint, the
 * bearer-token authenticator and the per-client rate limit.
 */
import { type AuthConfig, AuthConfigSchema } from '../auth/auth-config.ts';
import { createAuthenticator } from '../auth/authenticate.ts';
import { requireAccess } from '../auth/authorize.ts';
import { ClientRegistry } from '../auth/client-registry.ts';
import { currentRole } from '../auth/current-role.ts';
import { createRateLimiter } from '../auth/rate-limit.ts';
import { loadSigningKeys } from '../auth/signing-keys.ts';
import { createAuthRouter, smartSecurityExtension } from '../auth/token-endpoint.ts';
import type { Logger } from '../shared/logger.ts';
import type { Db } from '../store/db.ts';
import type { AuthLayer } from './auth-layer.ts';
import type { Config } from './config.ts';

export function authConfigOf(config: Config): AuthConfig {
  return AuthConfigSchema.parse({
    ...(config.CLIENTS_FILE ? { clientsFile: config.CLIENTS_FILE } : {}),
    production: config.production,
    dataDir: config.DATA_DIR,
    publicBaseUrl: config.publicBaseUrl,
    accessTokenLifetimeSeconds: config.ACCESS_TOKEN_LIFETIME_SECONDS,
    rateLimit: { requestsPerMinute: config.RATE_LIMIT_PER_MINUTE },
    tokenFailuresPerMinute: config.TOKEN_FAILURES_PER_CLIENT_PER_MINUTE,
    ...(config.IDP_ISSUER && config.IDP_JWKS_URL
      ? {
          externalIdp: {
            issuer: config.IDP_ISSUER,
            jwksUrl: config.IDP_JWKS_URL,
            scopeClaim: config.IDP_SCOPE_CLAIM,
            clientIdClaim: config.IDP_CLIENT_ID_CLAIM,
            ...(config.IDP_ROLE_CLAIM ? { roleClaim: config.IDP_ROLE_CLAIM } : {}),
          },
        }
      : {}),
  });
}

export async function createAuthLayer(deps: { config: Config; db: Db; logger: Logger }): Promise<AuthLayer> {
  const config = authConfigOf(deps.config);
  const registry = await ClientRegistry.open(config, { logger: deps.logger });
  if (registry.devClients) {
    deps.logger.info(
      `development clients in ${registry.devClients.file}; get an admin token with: ${registry.devClients.curl}`,
      {
        created: registry.devClients.created,
      },
    );
  }
  const keys = await loadSigningKeys(deps.db);
  return {
    router: createAuthRouter({ db: deps.db, config, registry, keys, logger: deps.logger }),
    authenticate: createAuthenticator({ config, keys, registry, logger: deps.logger }),
    rateLimit: createRateLimiter({
      requestsPerMinute: config.rateLimit.requestsPerMinute,
      burst: config.rateLimit.burst,
    }),
    security: smartSecurityExtension(config),
    authorize: requireAccess,
    currentRole: (access) => currentRole(registry, access),
  };
}
