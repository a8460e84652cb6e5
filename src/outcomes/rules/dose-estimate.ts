/** The proportional sirolimus dose estimate, for a clinician to confirm. */
import { round } from './exact-decimal.ts';
import { classifyTrough, type TargetRange } from './trough.ts';

export interface DoseEstimateInputs {
  currentDose: number | undefined;
  trough: number;
  troughDate: string;
  /** Start of the current dose (last change). */
  lastChange: string | undefined;
  target: TargetRange;
  minIntervalDays: number;
}

export type DoseEstimate =
  | { status: 'proposed'; dose: number; targetConcentration: number }
  | { status: 'not-proposed'; reason: string };

const DAY_MS = 86_400_000;

// Rapamune US label, section 2.1: new dose = current dose × (target / current trough); keep a new dose
// 7–14 days before adjusting again. Target = arm midpoint. Always to be confirmed by a clinician.
export function doseEstimate(i: DoseEstimateInputs): DoseEstimate {
  if (i.currentDose === undefined) return { status: 'not-proposed', reason: 'current dose unknown' };
  if (i.trough <= 0) return { status: 'not-proposed', reason: 'trough not above zero' };
  if (classifyTrough(i.trough, i.target) === 'in-range') return { status: 'not-proposed', reason: 'trough in target' };
  if (i.lastChange) {
    const days = (Date.parse(i.troughDate) - Date.parse(i.lastChange)) / DAY_MS;
    if (days < i.minIntervalDays) {
      return {
        status: 'not-proposed',
        reason: `last dose change ${Math.floor(days)} days before the trough (< ${i.minIntervalDays})`,
      };
    }
  }
  const targetConcentration = (i.target.low + i.target.high) / 2;
  return { status: 'proposed', dose: round((i.currentDose * targetConcentration) / i.trough, 3), targetConcentration };
}
