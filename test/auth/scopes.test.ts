import { describe, expect, it } from 'vitest';
import { classifyScope, parseScope, scopesAllow, splitScopes } from '../../src/auth/scopes.ts';

describe('parseScope', () => {
  it('parses SMART v2 scopes into interactions', () => {
    expect(parseScope('system/Observation.cru')).toMatchObject({
      context: 'system',
      resourceType: 'Observation',
      version: 2,
    });
    expect([...(parseScope('system/Observation.cru')?.interactions ?? [])]).toEqual(['create', 'read', 'update']);
    expect([...(parseScope('system/*.rs')?.interactions ?? [])]).toEqual(['read', 'search']);
    expect([...(parseScope('user/Patient.cruds')?.interactions ?? [])]).toEqual([
      'create',
      'read',
      'update',
      'delete',
      'search',
    ]);
    expect(parseScope('patient/Observation.rs')).toMatchObject({ context: 'patient', resourceType: 'Observation' });
  });

  it('parses SMART v1 scopes: read = rs, write = cud, * = cruds', () => {
    expect([...(parseScope('system/Observation.read')?.interactions ?? [])]).toEqual(['read', 'search']);
    expect([...(parseScope('system/Observation.write')?.interactions ?? [])]).toEqual(['create', 'update', 'delete']);
    expect(parseScope('system/*.*')?.interactions.size).toBe(5);
    expect(parseScope('user/*.read')).toMatchObject({ version: 1, resourceType: '*', context: 'user' });
  });

  it.each([
    'system/Observation.xyz',
    'system/Observation.rc', // out of c-r-u-d-s order
    'system/Observation.rrs', // repeated letter
    'system/Observation.',
    'system/observation.rs', // not a resource type
    'system/Observation',
    'system/.rs',
    'system/*.readwrite',
    'practitioner/Observation.rs',
    'system/Observation.rs extra',
    '',
  ])('rejects malformed %j', (raw) => {
    expect(parseScope(raw)).toBeUndefined();
  });

  it('classifies scopes: malformed resource scopes vs other and granular ones', () => {
    expect(classifyScope('system/Observation.xyz').kind).toBe('malformed');
    expect(classifyScope('system/Observation.rs?category=laboratory').kind).toBe('unsupported');
    expect(classifyScope('system/Observation.read?category=x').kind).toBe('malformed');
    expect(classifyScope('openid').kind).toBe('other');
    expect(classifyScope('offline_access').kind).toBe('other');
    expect(classifyScope('launch/patient').kind).toBe('other');
    expect(classifyScope('system/*.rs').kind).toBe('resource');
  });

  it('splits a scope parameter on any whitespace, dropping duplicates', () => {
    expect(splitScopes('  system/*.rs\tsystem/Patient.c  system/*.rs\n')).toEqual(['system/*.rs', 'system/Patient.c']);
  });
});

describe('scopesAllow', () => {
  it('grants exactly the interactions and types the scopes name', () => {
    const scopes = ['system/Observation.cru', 'system/Patient.read'];
    expect(scopesAllow(scopes, 'Observation', 'create')).toBe(true);
    expect(scopesAllow(scopes, 'Observation', 'read')).toBe(true);
    expect(scopesAllow(scopes, 'Observation', 'update')).toBe(true);
    expect(scopesAllow(scopes, 'Observation', 'delete')).toBe(false);
    expect(scopesAllow(scopes, 'Observation', 'search')).toBe(false);
    expect(scopesAllow(scopes, 'Patient', 'search')).toBe(true);
    expect(scopesAllow(scopes, 'Patient', 'create')).toBe(false);
    expect(scopesAllow(scopes, 'Encounter', 'read')).toBe(false);
  });

  it('lets a wildcard cover every type', () => {
    expect(scopesAllow(['system/*.rs'], 'ResearchSubject', 'search')).toBe(true);
    expect(scopesAllow(['system/*.rs'], 'ResearchSubject', 'update')).toBe(false);
    expect(scopesAllow(['system/*.*'], 'AuditEvent', 'delete')).toBe(true);
    expect(scopesAllow(['system/*.write'], 'Patient', 'read')).toBe(false);
  });

  it('treats user/ like system/ and grants nothing for patient/ (no patient context)', () => {
    expect(scopesAllow(['user/Observation.rs'], 'Observation', 'read')).toBe(true);
    expect(scopesAllow(['patient/Observation.rs'], 'Observation', 'read')).toBe(false);
    expect(scopesAllow(['patient/*.*'], 'Patient', 'read')).toBe(false);
  });

  it('ignores malformed, granular and non-resource scopes', () => {
    expect(
      scopesAllow(
        ['system/Observation.xyz', 'openid', 'system/Observation.rs?category=laboratory'],
        'Observation',
        'read',
      ),
    ).toBe(false);
    expect(scopesAllow([], 'Observation', 'read')).toBe(false);
  });
});
