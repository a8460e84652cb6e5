import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, Group, MeasureReport, Observation, Parameters, ResearchSubject } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import type { AccessContext, Role } from '../../src/auth/access-context.ts';
import { ARM_REVEALING_SECURITY_LABEL, assertQueryAllowed, maskBundle, maskForAccess } from '../../src/auth/masking.ts';
import { notFound, statusOf } from '../../src/shared/outcomes.ts';

const as = (role: Role): AccessContext => ({
  clientId: role,
  clientName: role,
  role,
  scopes: ['system/*.rs'],
  tokenId: 't',
});
const assessor = as('outcome-assessor');

const subject: ResearchSubject = {
  resourceType: 'ResearchSubject',
  id: 'rs1',
  meta: { versionId: '2' },
  status: 'on-study',
  study: { reference: 'ResearchStudy/nct04775173' },
  individual: { reference: 'Patient/khe-001' },
  assignedArm: 'low-dose',
  actualArm: 'low-dose',
};

const perArmGroup: Group = {
  resourceType: 'Group',
  id: 'arm-low',
  meta: { security: [{ ...ARM_REVEALING_SECURITY_LABEL }] },
  type: 'person',
  actual: true,
};

const perArmReport: MeasureReport = {
  resourceType: 'MeasureReport',
  id: 'mr-low',
  meta: {
    security: [
      { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' },
      { ...ARM_REVEALING_SECURITY_LABEL },
    ],
  },
  status: 'complete',
  type: 'summary',
  measure: 'https://khe-trial.example.org/fhir/Measure/response',
  period: { start: '2022-01-01' },
};

const platelets: Observation = {
  resourceType: 'Observation',
  id: 'plt',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
};

// As the ingest stores it (src/ingest/arm-revealing.ts): masking reads the label, not the code.
const trough: Observation = {
  resourceType: 'Observation',
  id: 'trough',
  meta: { security: [{ ...ARM_REVEALING_SECURITY_LABEL }] },
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
  valueQuantity: { value: 12.4, unit: 'ng/mL' },
};

describe('maskForAccess', () => {
  it('removes assignedArm and actualArm for outcome assessors, without mutating the input', () => {
    const before = structuredClone(subject);
    const masked = maskForAccess(subject, assessor);
    expect(masked).toBeDefined();
    expect(masked).not.toHaveProperty('assignedArm');
    expect(masked).not.toHaveProperty('actualArm');
    expect(masked).toMatchObject({ id: 'rs1', status: 'on-study', individual: { reference: 'Patient/khe-001' } });
    expect(subject).toEqual(before);
  });

  it.each(['admin', 'research', 'clinician', 'ehr-feed'] as const)('leaves %s unmasked', (role) => {
    expect(maskForAccess(subject, as(role))).toBe(subject);
    expect(maskForAccess(perArmGroup, as(role))).toBe(perArmGroup);
    expect(maskForAccess(trough, as(role))).toBe(trough);
  });

  it('hides resources labelled arm-revealing from outcome assessors', () => {
    expect(maskForAccess(perArmGroup, assessor)).toBeUndefined();
    expect(maskForAccess(perArmReport, assessor)).toBeUndefined();
  });

  it('hides what was stored labelled (levels, doses) and keeps other observations', () => {
    expect(maskForAccess(trough, assessor)).toBeUndefined();
    expect(
      maskForAccess(
        {
          resourceType: 'MedicationRequest',
          meta: { security: [{ ...ARM_REVEALING_SECURITY_LABEL }] },
          status: 'active',
          intent: 'order',
          subject: { reference: 'Patient/1' },
        },
        assessor,
      ),
    ).toBeUndefined();
    expect(maskForAccess(platelets, assessor)).toBe(platelets);
  });

  it('drops narrative for outcome assessors: it is written from the whole resource, arm included', () => {
    const narrated: ResearchSubject = {
      ...subject,
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Arm: low-dose</div>' },
    };
    const masked = maskForAccess(narrated, assessor);
    expect(masked).not.toHaveProperty('text');
    expect(JSON.stringify(masked)).not.toContain('low-dose');
    expect(maskForAccess(narrated, as('research'))).toBe(narrated);
  });

  it('masks contained resources too', () => {
    const obs: Observation = { ...platelets, contained: [subject, perArmGroup] };
    const masked = maskForAccess(obs, assessor);
    expect(masked?.contained).toHaveLength(1);
    expect(masked?.contained?.[0]).not.toHaveProperty('assignedArm');
    expect(obs.contained).toHaveLength(2);
  });

  it('masks resources inside Parameters (operation outputs)', () => {
    const params: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'a', resource: subject },
        { name: 'b', resource: perArmReport },
        {
          name: 'c',
          part: [
            { name: 'd', resource: trough },
            { name: 'e', valueString: 'x' },
          ],
        },
      ],
    };
    const masked = maskForAccess(params, assessor);
    expect(masked?.parameter?.map((p) => p.name)).toEqual(['a', 'c']);
    expect(masked?.parameter?.[0]?.resource).not.toHaveProperty('assignedArm');
    expect(masked?.parameter?.[1]?.part?.map((p) => p.name)).toEqual(['e']);
  });
});

describe('maskBundle', () => {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: 4,
    link: [{ relation: 'self', url: 'http://x/fhir/ResearchSubject' }],
    entry: [
      { fullUrl: 'http://x/fhir/ResearchSubject/rs1', resource: subject, search: { mode: 'match' } },
      { fullUrl: 'http://x/fhir/Group/arm-low', resource: perArmGroup, search: { mode: 'include' } },
      { fullUrl: 'http://x/fhir/Observation/plt', resource: platelets, search: { mode: 'include' } },
      { fullUrl: 'http://x/fhir/Observation/trough', resource: trough, search: { mode: 'include' } },
    ],
  };

  it('masks every entry, drops hidden ones and leaves the rest of the Bundle alone', () => {
    const before = structuredClone(bundle);
    const masked = maskBundle(bundle, assessor);
    expect(masked?.entry?.map((e) => e.fullUrl)).toEqual([
      'http://x/fhir/ResearchSubject/rs1',
      'http://x/fhir/Observation/plt',
    ]);
    expect(masked?.entry?.[0]?.resource).not.toHaveProperty('assignedArm');
    expect(masked?.entry?.[0]?.search).toEqual({ mode: 'match' });
    expect(masked?.total).toBe(4);
    expect(masked?.link).toEqual(bundle.link);
    expect(bundle).toEqual(before);
  });

  it('masks nested Bundles and returns the same object for unblinded roles', () => {
    const outer: Bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: bundle }] };
    const inner = maskBundle(outer, assessor)?.entry?.[0]?.resource as Bundle;
    expect(inner.entry).toHaveLength(2);
    expect(maskBundle(outer, as('research'))).toBe(outer);
  });

  it('keeps one entry per request in a batch response: a hidden resource answers as an absent one', () => {
    const response: Bundle = {
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        { resource: platelets, response: { status: '200 OK' } },
        { resource: trough, response: { status: '200 OK', etag: 'W/"1"' } },
      ],
    };
    const masked = maskBundle(response, assessor);
    expect(masked?.entry).toHaveLength(2);
    expect(masked?.entry?.[1]).toEqual({
      response: { status: '404 Not Found', outcome: notFound('Observation/trough not found') },
    });
  });

  it('hides a Bundle that is itself labelled arm-revealing', () => {
    expect(
      maskBundle({ ...bundle, meta: { security: [{ ...ARM_REVEALING_SECURITY_LABEL }] } }, assessor),
    ).toBeUndefined();
  });
});

describe('assertQueryAllowed', () => {
  const refused = (type: string, params: URLSearchParams | Record<string, string | string[]>): boolean => {
    try {
      assertQueryAllowed(type, params, assessor);
      return false;
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) throw err;
      expect(statusOf(err.outcome)).toBe(403);
      expect(err.outcome.issue[0]?.code).toBe('forbidden');
      return true;
    }
  };

  it('refuses arm-level parameters for outcome assessors', () => {
    expect(refused('ResearchSubject', { 'assigned-arm': 'low-dose' })).toBe(true);
    expect(refused('ResearchSubject', new URLSearchParams('actualArm=regular-dose'))).toBe(true);
    expect(refused('ResearchSubject', { _sort: '-arm' })).toBe(true);
    expect(refused('Observation', { 'subject:ResearchSubject.arm': 'x' })).toBe(true);
  });

  it('refuses reverse chains and free-form filters, which can filter on hidden data', () => {
    expect(refused('Observation', { '_has:MedicationRequest:subject:status': 'active' })).toBe(true);
    expect(refused('ResearchSubject', { _filter: 'assignedArm eq low-dose' })).toBe(true);
  });

  it('refuses searches naming the label; a search by a revealing code is answered as if nothing matched', () => {
    // The store leaves labelled resources out of the count (search.ts), so this one finds nothing.
    expect(
      refused('Observation', { code: 'http://loinc.org|29247-4', 'value-quantity': 'gt10', _summary: 'count' }),
    ).toBe(false);
    expect(refused('MeasureReport', { _security: `${ARM_REVEALING_SECURITY_LABEL.system}|arm-revealing` })).toBe(true);
  });

  it('refuses value filters and value sorting unless a code narrows them', () => {
    expect(refused('Observation', { patient: 'khe-001', 'value-quantity': 'gt10' })).toBe(true);
    expect(refused('Observation', { patient: 'khe-001', 'combo-value-quantity:missing': 'false' })).toBe(true);
    expect(refused('Observation', { patient: 'khe-001', _sort: '-value-quantity' })).toBe(true);
    expect(refused('Observation', { code: 'http://loinc.org|777-3', 'value-quantity': 'lt50' })).toBe(false);
  });

  it('allows ordinary searches, includes and repeated parameters', () => {
    expect(
      refused('Observation', {
        patient: 'khe-001',
        code: 'http://loinc.org|777-3',
        date: ['ge2022-01-01', 'le2022-12-31'],
        _include: 'Observation:subject',
      }),
    ).toBe(false);
    expect(refused('ResearchSubject', new URLSearchParams('study=nct04775173&_revinclude=Observation:subject'))).toBe(
      false,
    );
  });

  it('does not restrict unblinded roles', () => {
    expect(() => assertQueryAllowed('ResearchSubject', { 'assigned-arm': 'low-dose' }, as('research'))).not.toThrow();
  });
});
