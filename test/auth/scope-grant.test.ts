import { describe, expect, it } from 'vitest';
import { grantScopes } from '../../src/auth/scope-grant.ts';

describe('grantScopes (requested ∩ registered ∩ role ceiling)', () => {
  it('defaults to everything the client registered, within its role', () => {
    const g = grantScopes(undefined, { role: 'ehr-feed', allowedScopes: ['system/*.cruds'] });
    expect(g).toEqual({
      ok: true,
      scopes: [
        'system/AdverseEvent.cu',
        'system/DiagnosticReport.cu',
        'system/Observation.cu',
        'system/Patient.cu',
        'system/QuestionnaireResponse.cu',
      ],
    });
  });

  it('echoes the requested scopes when nothing had to be narrowed', () => {
    expect(
      grantScopes(['system/Observation.read', 'system/Patient.rs'], {
        role: 'research',
        allowedScopes: ['system/*.rs'],
      }),
    ).toEqual({
      ok: true,
      scopes: ['system/Observation.read', 'system/Patient.rs'],
    });
    expect(grantScopes(['system/*.*'], { role: 'admin', allowedScopes: ['system/*.cruds'] })).toEqual({
      ok: true,
      scopes: ['system/*.*'],
    });
  });

  it('narrows a request to what the client registered', () => {
    const g = grantScopes(['system/Observation.cruds', 'system/Patient.rs'], {
      role: 'admin',
      allowedScopes: ['system/Observation.rs'],
    });
    expect(g).toEqual({ ok: true, scopes: ['system/Observation.rs'] });
  });

  it('narrows a wildcard request to the role ceiling', () => {
    const g = grantScopes(['system/*.cruds'], { role: 'outcome-assessor', allowedScopes: ['system/*.cruds'] });
    expect(g).toEqual({
      ok: true,
      scopes: [
        'system/DiagnosticReport.rs',
        'system/Measure.rs',
        'system/MeasureReport.rs',
        'system/Observation.rs',
        'system/ResearchStudy.rs',
        'system/ResearchSubject.rs',
      ],
    });
  });

  it('keeps a wildcard for admin, intersected with a typed registration', () => {
    const g = grantScopes(['system/*.rs'], { role: 'admin', allowedScopes: ['system/*.r', 'system/AuditEvent.s'] });
    expect(g).toEqual({ ok: true, scopes: ['system/*.r', 'system/AuditEvent.s'] });
  });

  it('drops non-resource and patient scopes but grants the rest', () => {
    const g = grantScopes(['openid', 'patient/Observation.rs', 'system/Observation.rs'], {
      role: 'research',
      allowedScopes: ['system/*.rs'],
    });
    expect(g).toEqual({ ok: true, scopes: ['system/Observation.rs'] });
  });

  it('refuses malformed scopes as invalid_scope', () => {
    expect(grantScopes(['system/Observation.xyz'], { role: 'admin', allowedScopes: ['system/*.cruds'] })).toMatchObject(
      {
        ok: false,
        error: 'invalid_scope',
      },
    );
  });

  it('refuses when nothing remains: writes for research, patient scopes only', () => {
    expect(
      grantScopes(['system/Observation.cud'], { role: 'research', allowedScopes: ['system/*.cruds'] }),
    ).toMatchObject({
      ok: false,
      error: 'invalid_scope',
    });
    const p = grantScopes(['patient/*.rs'], { role: 'admin', allowedScopes: ['system/*.cruds'] });
    expect(p.ok).toBe(false);
    expect(!p.ok && p.description).toMatch(/patient context/);
  });
});
