import { describe, expect, it } from 'vitest';
import type { AccessContext, Role } from '../../src/auth/access-context.ts';
import { accessAllows, roleAllows } from '../../src/auth/roles.ts';
import type { Interaction } from '../../src/auth/scopes.ts';

const TYPES = [
  'AdverseEvent',
  'AuditEvent',
  'Bundle',
  'DetectedIssue',
  'DiagnosticReport',
  'Flag',
  'Group',
  'Measure',
  'MeasureReport',
  'MedicationRequest',
  'Observation',
  'Patient',
  'Questionnaire',
  'QuestionnaireResponse',
  'ResearchStudy',
  'ResearchSubject',
  'Subscription',
] as const;

// The expected matrix, written out independently of ROLE_CEILINGS: letters are c r u d s.
const EXPECTED: Record<Role, Partial<Record<(typeof TYPES)[number], string>>> = {
  'ehr-feed': {
    AdverseEvent: 'cu',
    DiagnosticReport: 'cu',
    Observation: 'cu',
    Patient: 'cu',
    QuestionnaireResponse: 'cu',
  },
  research: {
    AdverseEvent: 'rs',
    Bundle: 'rs',
    DetectedIssue: 'rs',
    DiagnosticReport: 'rs',
    Flag: 'rs',
    Group: 'rs',
    Measure: 'rs',
    MeasureReport: 'rs',
    MedicationRequest: 'rs',
    Observation: 'rs',
    Patient: 'rs',
    Questionnaire: 'rs',
    QuestionnaireResponse: 'rs',
    ResearchStudy: 'rs',
    ResearchSubject: 'rs',
  },
  'outcome-assessor': {
    DiagnosticReport: 'rs',
    Measure: 'rs',
    MeasureReport: 'rs',
    Observation: 'rs',
    ResearchStudy: 'rs',
    ResearchSubject: 'rs',
  },
  clinician: {
    AdverseEvent: 'rs',
    DetectedIssue: 'rs',
    DiagnosticReport: 'rs',
    Flag: 'rs',
    Measure: 'rs',
    MeasureReport: 'rs',
    MedicationRequest: 'rs',
    Observation: 'rs',
    Patient: 'rs',
    Questionnaire: 'rs',
    QuestionnaireResponse: 'rs',
    ResearchStudy: 'rs',
    ResearchSubject: 'rs',
  },
  admin: Object.fromEntries(TYPES.map((t) => [t, 'cruds'])),
};

const LETTER: Record<Interaction, string> = { create: 'c', read: 'r', update: 'u', delete: 'd', search: 's' };
const INTERACTIONS: Interaction[] = ['create', 'read', 'update', 'delete', 'search'];
const cases = (Object.keys(EXPECTED) as Role[]).flatMap((role) =>
  TYPES.flatMap((type) =>
    INTERACTIONS.map((i) => ({ role, type, i, allowed: (EXPECTED[role][type] ?? '').includes(LETTER[i]) })),
  ),
);

describe('role ceilings', () => {
  it.each(cases)('$role $i $type → $allowed', ({ role, type, i, allowed }) => {
    expect(roleAllows(role, type, i)).toBe(allowed);
  });

  it('keeps the blinded role away from every medication type (doses reveal the arm)', () => {
    for (const t of ['Medication', 'MedicationRequest', 'MedicationAdministration', 'MedicationStatement']) {
      expect(roleAllows('outcome-assessor', t, 'read')).toBe(false);
    }
  });

  it('lets only admin write enrollment (ResearchSubject) and the study definition', () => {
    for (const role of ['ehr-feed', 'research', 'outcome-assessor', 'clinician'] as const) {
      for (const i of ['create', 'update', 'delete'] as const) {
        expect(roleAllows(role, 'ResearchSubject', i)).toBe(false);
        expect(roleAllows(role, 'ResearchStudy', i)).toBe(false);
      }
    }
    expect(roleAllows('admin', 'ResearchSubject', 'create')).toBe(true);
  });
});

describe('accessAllows', () => {
  const access = (role: Role, scopes: string[]): AccessContext => ({
    clientId: 'c',
    clientName: 'c',
    role,
    scopes,
    tokenId: 't',
  });

  it('needs both the role and the scopes', () => {
    expect(accessAllows(access('research', ['system/*.rs']), 'Observation', 'read')).toBe(true);
    // scope allows, role does not
    expect(accessAllows(access('research', ['system/*.cruds']), 'Observation', 'create')).toBe(false);
    // role allows, scope does not
    expect(accessAllows(access('admin', ['system/Observation.rs']), 'Patient', 'read')).toBe(false);
    expect(accessAllows(access('admin', ['system/Observation.rs']), 'Observation', 'search')).toBe(true);
    expect(accessAllows(access('ehr-feed', ['system/*.*']), 'ResearchSubject', 'read')).toBe(false);
  });
});
