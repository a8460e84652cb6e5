/**
 * SMART discovery: `.well-known/smart-configuration` (SMART App Launch 2, conformance) and the
 * matching `rest.security` block of the CapabilityStatement. Backend services only: there is no
 * authorization endpoint, and client_credentials is the one grant.
 */
import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import { ROLES } from './access-context.ts';
import { type AuthConfig, authUrls } from './auth-config.ts';
import { ASSERTION_ALGORITHMS } from './client-assertion.ts';
import { permissionsToScopes } from './permissions.ts';
import { ROLE_CEILINGS } from './roles.ts';
import type { Interaction } from './scopes.ts';

export interface SmartConfiguration {
  issuer: string;
  jwks_uri: string;
  token_endpoint: string;
  token_endpoint_auth_methods_supported: string[];
  token_endpoint_auth_signing_alg_values_supported: string[];
  grant_types_supported: string[];
  scopes_supported: string[];
  response_types_supported: string[];
  capabilities: string[];
  code_challenge_methods_supported: string[];
}

/** Wildcards first, then every type a role ceiling names, with the union of what roles may do. */
export function supportedScopes(): string[] {
  const union = new Map<string, Set<Interaction>>();
  for (const role of ROLES) {
    for (const [type, interactions] of Object.entries(ROLE_CEILINGS[role])) {
      if (type === '*') continue;
      const set = union.get(type) ?? new Set<Interaction>();
      for (const i of interactions) set.add(i);
      union.set(type, set);
    }
  }
  return ['system/*.cruds', 'system/*.rs', 'system/*.read', 'system/*.write', ...permissionsToScopes(union)];
}

export function smartConfiguration(config: Pick<AuthConfig, 'publicBaseUrl'>): SmartConfiguration {
  const urls = authUrls(config);
  return {
    issuer: urls.issuer,
    jwks_uri: urls.jwksUrl,
    token_endpoint: urls.tokenUrl,
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: ['client_credentials'],
    scopes_supported: supportedScopes(),
    response_types_supported: [],
    capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric', 'permission-v1', 'permission-v2'],
    // Required by SMART 2 discovery (S256, never plain) although no authorization-code flow is offered.
    code_challenge_methods_supported: ['S256'],
  };
}

export function smartSecurityExtension(config: Pick<AuthConfig, 'publicBaseUrl'>): CapabilityStatementRestSecurity {
  const urls = authUrls(config);
  return {
    cors: false,
    service: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
            code: 'SMART-on-FHIR',
            display: 'SMART-on-FHIR',
          },
        ],
        text: 'OAuth2 client credentials, SMART Backend Services (private_key_jwt) or client_secret_basic',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [{ url: 'token', valueUri: urls.tokenUrl }],
      },
    ],
    description: `Bearer access tokens from ${urls.tokenUrl} (grant client_credentials); discovery at ${urls.fhirBase}/.well-known/smart-configuration.`,
  };
}
