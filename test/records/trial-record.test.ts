// Fixtures WRITTEN FOR THE TESTS: sirolimus, fibrinogen and lesion-volume results do not occur in
// the public corpus, so these Observations were made up to exercise the derivation.
import type { Observation } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { loadUnitAliases } from '../../src/mapping/load-unit-aliases.ts';
import type { StudyDefinition, StudyMeasure } from '../../src/mapping/study-definition.ts';
import {
  EXT_ORIGINAL_VALUE,
  EXT_RESEARCH_STUDY,
  EXT_RESEARCH_SUBJECT,
  EXT_VISIT,
} from '../../src/mapping/trial-extensions.ts';
import type { Enrollment } from '../../src/records/enrollment.ts';
import { deriveTrialRecord, trialRecordId } from '../../src/records/trial-record.ts';
import { AppError } from '../../src/shared/app-error.ts';

const enrollment: Enrollment = {
  researchSubjectId: 'rs-1',
  studyId: 'nct04775173',
  patientId: 'p-1',
  status: 'on-study',
  assignedArm: 'low-dose',
  start: '2022-01-10',
};

function source(
  code: string,
  value: number | undefined,
  unit: string,
  effective: string,
  status: Observation['status'] = 'final',
): Observation {
  return {
    resourceType: 'Observation',
    id: 'src-1',
    status,
    code: {
      coding: [
        { system: 'urn:oid:1.2.156.112606.1.1.1', code: 'LOCAL' },
        { system: 'http://loinc.org', code },
      ],
    },
    subject: { reference: 'Patient/p-1' },
    effectiveDateTime: effective,
    ...(value === undefined ? {} : { valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit } }),
    referenceRange: [{ low: { value: 4.4, unit, code: unit }, high: { value: 11, unit, code: unit } }],
  };
}

describe('deriving the trial record', () => {
  let study: StudyDefinition;
  let aliases: Record<string, string>;
  const measure = (id: string): StudyMeasure => study.measures.find((m) => m.id === id) as StudyMeasure;
  beforeAll(async () => {
    study = (await loadStudyDefinitions())[0] as StudyDefinition;
    aliases = await loadUnitAliases();
  });

  it('normalises a sirolimus trough in nmol/L to ng/mL, keeps the original, places it at month 1', () => {
    const r = deriveTrialRecord({
      source: source('29247-4', 8.2, 'nmol/L', '2022-02-09T07:30:00+08:00'),
      sourceRef: 'Observation/src-1',
      study,
      measure: measure('sirolimus-trough'),
      enrollment,
      unitAliases: aliases,
    });
    expect(r.id).toBe(trialRecordId('Observation/src-1', 'rs-1', 'sirolimus-trough'));
    expect(r.code.coding?.[0]).toEqual({ system: 'http://loinc.org', code: '29247-4' });
    expect(r.valueQuantity).toEqual({
      value: 7.496194,
      unit: 'ng/mL',
      system: 'http://unitsofmeasure.org',
      code: 'ng/mL',
    });
    const ext = (url: string) => r.extension?.find((e) => e.url === url);
    expect(ext(EXT_ORIGINAL_VALUE)?.valueQuantity?.value).toBe(8.2);
    expect(ext(EXT_ORIGINAL_VALUE)?.valueQuantity?.code).toBe('nmol/L');
    expect(ext(EXT_RESEARCH_STUDY)?.valueReference?.reference).toBe('ResearchStudy/nct04775173');
    expect(ext(EXT_RESEARCH_SUBJECT)?.valueReference?.reference).toBe('ResearchSubject/rs-1');
    expect(ext(EXT_VISIT)?.valueCoding?.code).toBe('month-1');
    expect(r.derivedFrom).toEqual([{ reference: 'Observation/src-1' }]);
    expect(r.subject).toEqual({ reference: 'Patient/p-1' });
    expect(r.effectiveDateTime).toBe('2022-02-09T07:30:00+08:00');
    // The range comes along in the canonical unit, for the ULN-relative eligibility rules.
    expect(r.referenceRange?.[0]?.high?.value).toBeCloseTo(10.05587, 4);
  });

  it.each([
    ['fibrinogen', '3255-7', 150, 'mg/dL', 1.5, 'g/L', '2022-01-05', 'baseline'],
    ['platelets', '777-3', 45000, '/mm3', 45, '10*9/L', '2022-04-11', 'month-3'],
    ['lesion-volume', '118565006', 12000, 'mm3', 12, 'mL', '2022-07-11', 'month-6'],
    ['platelets', '777-3', 120, 'x10^9/L', 120, '10*9/L', '2022-03-01', 'unscheduled'],
  ])('%s %f %s → %f %s at %s (%s)', (measureId, code, value, unit, expected, canonical, day, visit) => {
    const r = deriveTrialRecord({
      source: source(code, value, unit, `${day}T09:00:00+08:00`),
      sourceRef: 'Observation/src-1',
      study,
      measure: measure(measureId),
      enrollment,
      unitAliases: aliases,
    });
    expect(r.valueQuantity?.value).toBeCloseTo(expected, 6);
    expect(r.valueQuantity?.code).toBe(canonical);
    expect(r.extension?.find((e) => e.url === EXT_VISIT)?.valueCoding?.code).toBe(visit);
  });

  it('follows the source status; an entered-in-error source retracts the record even without a value', () => {
    const r = deriveTrialRecord({
      source: source('777-3', undefined, '10*9/L', '2022-02-09', 'entered-in-error'),
      sourceRef: 'Observation/src-1',
      study,
      measure: measure('platelets'),
      enrollment,
      unitAliases: aliases,
    });
    expect(r.status).toBe('entered-in-error');
    expect(r.valueQuantity).toBeUndefined();
  });

  it.each([
    ['a unit of another dimension', 120, 'kg', 'MAPPING_UNIT_INCOMPATIBLE'],
    ['a unit that is not UCUM', 120, 'bananas', 'MAPPING_UNIT_UNKNOWN'],
    ['no value', undefined, 'g/L', 'MAPPING_VALUE_MISSING'],
  ])('refuses %s with a stable code', (_name, value, unit, code) => {
    try {
      deriveTrialRecord({
        source: source('3255-7', value, unit, '2022-02-09'),
        sourceRef: 'Observation/src-1',
        study,
        measure: measure('fibrinogen'),
        enrollment,
        unitAliases: aliases,
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe(code);
    }
  });
});
