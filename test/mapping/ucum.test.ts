import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toCanonicalUnit } from '../../src/mapping/ucum.ts';
import { AppError } from '../../src/shared/app-error.ts';

const aliases = (JSON.parse(readFileSync('mappings/unit-aliases.json', 'utf8')) as { aliases: Record<string, string> })
  .aliases;

describe('conversion to the measures’ canonical UCUM units', () => {
  // Factors per ../shared/notes/domain.md §2 (molar masses: sirolimus 914.17, creatinine 113.12,
  // bilirubin 584.66 g/mol); expected values computed by hand, not by the library under test.
  it.each([
    ['sirolimus', 7.5, 'ug/L', 'ng/mL', undefined, 7.5],
    ['sirolimus', 8.2, 'nmol/L', 'ng/mL', 914.17, 7.496194],
    ['sirolimus', 10.94, 'nmol/L', 'ng/mL', 914.17, 10.0010198],
    ['platelets', 45, '10*3/uL', '10*9/L', undefined, 45],
    ['platelets', 45000, '/uL', '10*9/L', undefined, 45],
    ['platelets', 45000, '/mm3', '10*9/L', undefined, 45],
    ['ANC', 1200, '/uL', '10*9/L', undefined, 1.2],
    ['fibrinogen', 150, 'mg/dL', 'g/L', undefined, 1.5],
    ['creatinine', 70.72, 'umol/L', 'mg/dL', 113.12, 0.7999846],
    ['bilirubin', 17.1, 'umol/L', 'mg/dL', 584.66, 0.999769],
    ['lesion volume', 12, 'cm3', 'mL', undefined, 12],
    ['lesion volume', 12000, 'mm3', 'mL', undefined, 12],
    ['platelets (alias)', 45, 'x10^9/L', '10*9/L', undefined, 45],
    ['sirolimus (alias µg/L)', 6, 'µg/L', 'ng/mL', undefined, 6],
  ])('%s: %f %s = %f %s', (measure, value, unit, canonical, molarMass, expected) => {
    const r = toCanonicalUnit(value, unit, canonical, { molarMass, aliases, measure });
    expect(r.unit).toBe(canonical);
    expect(r.value).toBeCloseTo(expected as number, 5);
  });

  it('gives exact values where the factor is exact (no floating-point noise)', () => {
    expect(toCanonicalUnit(45, '10*3/uL', '10*9/L').value).toBe(45);
    expect(toCanonicalUnit(12, 'cm3', 'mL').value).toBe(12);
  });

  it.each([
    ['mg/dL', 'g/L', undefined, 'MAPPING_UNIT_INCOMPATIBLE', 'kg'],
    ['nmol/L', 'ng/mL', undefined, 'MAPPING_UNIT_INCOMPATIBLE', 'nmol/L'],
    ['', '', undefined, 'MAPPING_UNIT_UNKNOWN', 'furlongs'],
  ])('refuses %s with a stable code', (_a, _b, _m, code, unit) => {
    const canonical = unit === 'kg' ? 'g/L' : 'ng/mL';
    try {
      toCanonicalUnit(1, unit as string, canonical, { measure: 'test' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe(code);
      expect((err as AppError).message).toContain(unit as string);
    }
  });
});
