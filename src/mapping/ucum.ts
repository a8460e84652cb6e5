/**
 * Converting a measured value to its measure's canonical UCUM unit, with the UCUM library
 * (@lhncbc/ucum-lhc) rather than hand-written factors. Molar units (nmol/L, umol/L) convert to mass
 * units through the analyte's molar mass from the study definition.
 */
import ucum from '@lhncbc/ucum-lhc';
import { appError } from '../shared/app-error.ts';

const utils = ucum.UcumLhcUtils.getInstance();

export interface CanonicalValue {
  value: number;
  unit: string;
}

/**
 * UCUM conversion leaves binary floating-point noise (45 x10^3/uL becomes 44.99999999999999 x10^9/L);
 * twelve significant digits is far beyond any laboratory's precision.
 */
function clean(x: number): number {
  return Number(x.toPrecision(12));
}

export function isUcumUnit(unit: string): boolean {
  return utils.validateUnitString(unit).status === 'valid';
}

export function resolveUnit(unit: string, aliases: Readonly<Record<string, string>>): string {
  return aliases[unit] ?? unit;
}

export function toCanonicalUnit(
  value: number,
  unit: string,
  canonicalUnit: string,
  options: { molarMass?: number | undefined; aliases?: Readonly<Record<string, string>>; measure?: string } = {},
): CanonicalValue {
  const from = resolveUnit(unit, options.aliases ?? {});
  if (from === canonicalUnit) return { value, unit: canonicalUnit };
  if (utils.validateUnitString(from).status !== 'valid') {
    throw appError(
      'MAPPING_UNIT_UNKNOWN',
      `"${unit}" is not a UCUM unit (nor a known alias)${options.measure ? ` for ${options.measure}` : ''}`,
    );
  }
  const r = utils.convertUnitTo(
    from,
    value,
    canonicalUnit,
    options.molarMass ? { molecularWeight: options.molarMass } : undefined,
  );
  if (r.status !== 'succeeded' || r.toVal === null) {
    throw appError(
      'MAPPING_UNIT_INCOMPATIBLE',
      `"${unit}" cannot be converted to ${canonicalUnit}${options.measure ? ` for ${options.measure}` : ''}`,
    );
  }
  return { value: clean(r.toVal), unit: canonicalUnit };
}
