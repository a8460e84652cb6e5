import { describe, expect, it } from 'vitest';
import { AuthConfigSchema, authUrls } from '../../src/auth/auth-config.ts';

describe('AuthConfigSchema', () => {
  it('fills defaults', () => {
    const c = AuthConfigSchema.parse({ production: false, dataDir: './data', publicBaseUrl: 'http://127.0.0.1:8080/' });
    expect(c).toEqual({
      production: false,
      dataDir: './data',
      publicBaseUrl: 'http://127.0.0.1:8080',
      accessTokenLifetimeSeconds: 300,
      rateLimit: { requestsPerMinute: 6000 },
      tokenFailuresPerMinute: 20,
    });
    expect(authUrls(c)).toEqual({
      issuer: 'http://127.0.0.1:8080',
      tokenUrl: 'http://127.0.0.1:8080/auth/token',
      jwksUrl: 'http://127.0.0.1:8080/auth/jwks.json',
      fhirBase: 'http://127.0.0.1:8080/fhir',
    });
  });

  it('fills external IdP claim defaults and checks its role', () => {
    const c = AuthConfigSchema.parse({
      production: true,
      dataDir: '/d',
      publicBaseUrl: 'https://trial.example.org',
      externalIdp: {
        issuer: 'https://idp.example.org',
        jwksUrl: 'https://idp.example.org/jwks',
        defaultRole: 'clinician',
      },
    });
    expect(c.externalIdp).toMatchObject({ scopeClaim: 'scope', clientIdClaim: 'client_id', defaultRole: 'clinician' });
    expect(
      AuthConfigSchema.safeParse({
        production: true,
        dataDir: '/d',
        publicBaseUrl: 'https://trial.example.org',
        externalIdp: { issuer: 'x', jwksUrl: 'https://idp/jwks', defaultRole: 'superuser' },
      }).success,
    ).toBe(false);
  });

  it('rejects bad values and unknown keys', () => {
    const base = { production: false, dataDir: './data', publicBaseUrl: 'http://127.0.0.1:8080' };
    expect(AuthConfigSchema.safeParse({ ...base, accessTokenLifetimeSeconds: 86_400 }).success).toBe(false);
    expect(AuthConfigSchema.safeParse({ ...base, publicBaseUrl: 'not a url' }).success).toBe(false);
    expect(AuthConfigSchema.safeParse({ ...base, rateLimit: { requestsPerMinute: 0 } }).success).toBe(false);
    expect(AuthConfigSchema.safeParse({ ...base, clientFile: 'typo.json' }).success).toBe(false);
  });
});
