/**
 * SYNTHETIC COHORT, WRITTEN FOR THE TESTS AND THE DEMO (`npm run demo`): 30 invented children with kaposiform
 * hemangioendothelioma in both arms of NCT04775173. Nothing here is patient data. Values are
 * chosen to exercise every volume response category, both KM outcomes and troughs on both sides
 * of each arm's target; troughs come from a one-compartment steady-state pharmacokinetic model
 * with per-child clearance. Deterministic (seeded), so the expected table is reproducible.
 */
import type { Bundle, BundleEntry, Observation } from '@medplum/fhirtypes';
import { seededRandom } from '../shared/seeded-random.ts';

export interface SyntheticValue {
  id: string;
  measure: 'platelets' | 'fibrinogen' | 'lesion-volume' | 'sirolimus-trough';
  day: number;
  /** Value in the measure's canonical unit (10*9/L, g/L, mL, ng/mL). */
  value: number;
  /** What the EHR sends: value and unit (sometimes another unit, to exercise conversion). */
  sent: { value: number; unit: string };
}

export interface SyntheticSubject {
  index: number;
  patientId: string;
  mrn: string;
  arm: 'low-dose' | 'regular-dose';
  birthDate: string;
  start: string;
  values: SyntheticValue[];
}

const CODES: Record<SyntheticValue['measure'], { system: string; code: string }> = {
  platelets: { system: 'http://loinc.org', code: '777-3' },
  fibrinogen: { system: 'http://loinc.org', code: '3255-7' },
  'lesion-volume': { system: 'http://snomed.info/sct', code: '118565006' },
  'sirolimus-trough': { system: 'http://loinc.org', code: '29247-4' },
};

const round = (n: number, d: number) => Math.round(n * 10 ** d) / 10 ** d;

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Steady-state trough of a one-compartment model, dosing every 12 h: C = (D/V)·e^(−kτ)/(1 − e^(−kτ)). */
function steadyTrough(doseMg: number, clearanceLPerH: number, volumeL: number): number {
  const k = clearanceLPerH / volumeL;
  const tau = 12;
  const mgPerL = (doseMg / volumeL) * (Math.exp(-k * tau) / (1 - Math.exp(-k * tau)));
  return mgPerL * 1000; // ng/mL
}

const VOLUME_FACTORS = [1.2, 1.0, 0.8, 0.2, 0];

export function syntheticCohort(n = 30, seed = 20210301): SyntheticSubject[] {
  const rnd = seededRandom(seed);
  const subjects: SyntheticSubject[] = [];
  for (let i = 0; i < n; i++) {
    const arm = i % 2 === 0 ? 'low-dose' : 'regular-dose';
    const start = addDays('2022-01-10', i * 3);
    const birthDate = addDays('2021-06-01', -i * 45);
    const values: SyntheticValue[] = [];
    let seq = 0;
    const add = (
      measure: SyntheticValue['measure'],
      day: number,
      value: number,
      sent?: { value: number; unit: string },
    ) => {
      values.push({
        id: `SYN-${i}-${seq++}`,
        measure,
        day,
        value,
        sent: sent ?? {
          value,
          unit: { platelets: '10*9/L', fibrinogen: 'g/L', 'lesion-volume': 'mL', 'sirolimus-trough': 'ng/mL' }[measure],
        },
      });
    };
    // Baseline (day −3): KMP thrombocytopenia; fibrinogen low in four of five children.
    const pltBase = round(15 + rnd() * 30, 0);
    const fibBase = i % 5 === 4 ? 1.8 : round(0.6 + rnd() * 0.6, 2);
    const volBase = round(20 + rnd() * 80, 1);
    add('platelets', -3, pltBase);
    add('fibrinogen', -3, fibBase, i % 3 === 0 ? { value: round(fibBase * 100, 0), unit: 'mg/dL' } : undefined);
    add('lesion-volume', -2, volBase, i % 4 === 0 ? { value: volBase, unit: 'cm3' } : undefined);
    // Follow-up labs at months 1, 3, 6, 12 (target days): most recover, some do not.
    [30, 91, 182, 365].forEach((day, v) => {
      const recovers = (i + v) % 4 !== 0;
      const plt = recovers ? round(110 + rnd() * 150, 0) : round(40 + rnd() * 50, 0);
      add('platelets', day, plt, i % 2 === 0 && v % 2 === 0 ? { value: plt, unit: '10*3/uL' } : undefined);
      const fib = recovers ? round(1.6 + rnd(), 2) : round(0.9 + rnd() * 0.5, 2);
      add('fibrinogen', day, fib);
    });
    [91, 182, 365].forEach((day, v) => {
      add('lesion-volume', day, round(volBase * (VOLUME_FACTORS[(i + v) % 5] as number), 2));
    });
    // Troughs: weekly for 12 weeks, then monthly; dose by arm, clearance per child.
    const dose = arm === 'low-dose' ? 0.4 : 0.8;
    const clearance = 1.2 + rnd() * 1.6;
    const days = [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84, 120, 150, 180, 240, 300, 360];
    for (const day of days) {
      const c = round(steadyTrough(dose, clearance, 12) * (0.85 + rnd() * 0.3), 2);
      add('sirolimus-trough', day, c);
    }
    subjects.push({
      index: i,
      patientId: `syn-${i}`,
      mrn: `SYN-MRN-${i}`,
      arm,
      birthDate,
      start,
      values,
    });
  }
  return subjects;
}

export const SYN_IDENTIFIER_SYSTEM = 'urn:oid:2.999.synthetic.lab';

export function effectiveOf(s: SyntheticSubject, day: number): string {
  return `${addDays(s.start, day)}T08:00:00+08:00`;
}

export function observationOf(
  s: SyntheticSubject,
  v: SyntheticValue,
  status: Observation['status'] = 'final',
): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: SYN_IDENTIFIER_SYSTEM, value: v.id }],
    status,
    code: { coding: [CODES[v.measure]] },
    subject: { identifier: { system: 'urn:synthetic:mrn', value: s.mrn } },
    effectiveDateTime: effectiveOf(s, v.day),
    valueQuantity: { value: v.sent.value, unit: v.sent.unit, system: 'http://unitsofmeasure.org', code: v.sent.unit },
  };
}

/** What the EHR feed sends for one child: one transaction with every result. */
export function feedBundle(s: SyntheticSubject): Bundle {
  const entry: BundleEntry[] = s.values.map((v) => ({
    fullUrl: `urn:uuid:${v.id}`,
    resource: observationOf(s, v),
    request: { method: 'POST', url: 'Observation' },
  }));
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
