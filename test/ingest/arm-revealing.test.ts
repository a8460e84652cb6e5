import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { isArmRevealing } from '../../src/auth/masking.ts';
import { revealsArm, withArmRevealingLabel } from '../../src/ingest/arm-revealing.ts';
import { RoutingTable } from '../../src/ingest/routing-table.ts';
import { loadConceptMaps } from '../../src/mapping/load-concept-maps.ts';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';

let table: RoutingTable;
beforeAll(async () => {
  table = new RoutingTable(await loadStudyDefinitions(), await loadConceptMaps());
});

const subject = { reference: 'Patient/p1' };
const r = (x: Record<string, unknown>) => x as unknown as Resource;

describe('revealsArm: what study.json armRevealing declares, by meaning', () => {
  it.each([
    [
      'LOINC trough',
      r({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
      }),
    ],
    [
      'local code a ConceptMap maps to the trough',
      r({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'urn:oid:1.2.156.112606.1.1.1', code: 'RAPA' }] },
      }),
    ],
    [
      'declared extra code',
      r({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '115766-8' }] },
      }),
    ],
    ['code.text only', r({ resourceType: 'Observation', status: 'final', code: { text: 'Rapamycin level' } })],
    [
      'component',
      r({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'Panel' },
        component: [{ code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] } }],
      }),
    ],
    [
      'report coded as the trough',
      r({
        resourceType: 'DiagnosticReport',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '29247-4' }] },
      }),
    ],
    [
      'report whose conclusion names the drug',
      r({
        resourceType: 'DiagnosticReport',
        status: 'final',
        code: { text: 'Panel' },
        conclusion: 'Sirolimus 12 ng/mL',
      }),
    ],
    [
      'order of the study drug',
      r({
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        subject,
        medicationCodeableConcept: {
          coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '35302' }],
        },
      }),
    ],
    [
      'administration of a Medication held elsewhere',
      r({
        resourceType: 'MedicationAdministration',
        status: 'completed',
        subject,
        medicationReference: { reference: 'Medication/m1' },
        effectiveDateTime: '2022-01-01',
      }),
    ],
    [
      'adverse event naming the level',
      r({
        resourceType: 'AdverseEvent',
        actuality: 'actual',
        subject,
        event: { text: 'Sirolimus trough above 20 ng/mL' },
      }),
    ],
  ])('%s reveals the arm', (_name, resource) => {
    expect(revealsArm(resource, table)).toBe(true);
    expect(isArmRevealing(withArmRevealingLabel(resource, table))).toBe(true);
  });

  it.each([
    [
      'platelets',
      r({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '777-3' }] },
      }),
    ],
    [
      'local platelet code',
      r({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'urn:oid:1.2.156.112606.1.1.1', code: 'PLT' }] },
      }),
    ],
    [
      'order of another drug',
      r({
        resourceType: 'MedicationStatement',
        status: 'active',
        subject,
        medicationCodeableConcept: { text: 'Prednisolone' },
      }),
    ],
    [
      'adverse event of the drug that names no level',
      r({ resourceType: 'AdverseEvent', actuality: 'actual', subject, event: { text: 'Mucositis on sirolimus' } }),
    ],
    [
      'ResearchSubject',
      r({
        resourceType: 'ResearchSubject',
        status: 'on-study',
        study: { reference: 'ResearchStudy/x' },
        individual: subject,
      }),
    ],
  ])('%s does not', (_name, resource) => {
    expect(revealsArm(resource, table)).toBe(false);
    expect(withArmRevealingLabel(resource, table)).toBe(resource);
  });
});
