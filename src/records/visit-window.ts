/**
 * Placing a result in the visit schedule. Days count from the subject's treatment start
 * (ResearchSubject.period.start, day 0) to the calendar date on which the sample was taken, in the
 * time zone the EHR recorded it in: an 07:30 sample in Chengdu is that day's, whatever UTC says.
 */

export interface VisitWindow {
  id: string;
  /** Target day relative to treatment start (baseline: 0). */
  targetDay: number;
  /** First and last day of the window, inclusive. */
  earliestDay: number;
  latestDay: number;
}

export const UNSCHEDULED = 'unscheduled';

const DAY_MS = 86_400_000;

/** The local calendar date of a FHIR date/dateTime, as days since 1970-01-01. */
export function localDayNumber(value: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(ms) ? undefined : Math.round(ms / DAY_MS);
}

/** Study day of `effective` relative to `treatmentStart` (day 0); undefined if either is not a date. */
export function studyDay(effective: string, treatmentStart: string): number | undefined {
  const e = localDayNumber(effective);
  const s = localDayNumber(treatmentStart);
  return e === undefined || s === undefined ? undefined : e - s;
}

/**
 * The visit whose window holds `day`; where windows overlap, the one whose target is nearest
 * (the earlier visit on a tie). Registry record NCT04775173: visits at baseline, 1, 3, 6, 12 months.
 */
export function visitForDay(day: number, windows: readonly VisitWindow[]): string {
  let best: VisitWindow | undefined;
  for (const w of windows) {
    if (day < w.earliestDay || day > w.latestDay) continue;
    if (!best || Math.abs(day - w.targetDay) < Math.abs(day - best.targetDay)) best = w;
  }
  return best?.id ?? UNSCHEDULED;
}

/** The visit a value taken at `when` falls in, counted from `treatmentStart`; unscheduled without one. */
export function visitAt(
  when: string | undefined,
  treatmentStart: string | undefined,
  windows: readonly VisitWindow[],
): string {
  const day = when && treatmentStart ? studyDay(when, treatmentStart) : undefined;
  return day === undefined ? UNSCHEDULED : visitForDay(day, windows);
}

export type SelectionRule = 'closest-to-target' | 'latest-before-start';

export interface Candidate {
  key: string;
  day: number;
  /** Effective time as an ISO string, to order values taken on the same day. */
  effective: string;
}

/**
 * Of several values in one window, the one that counts. Default: closest to the target day, the
 * earlier on a tie. Baseline: the latest on or before treatment start (what the child had when
 * sirolimus began), falling back to the closest if none precedes it.
 */
export function selectCounting(
  candidates: readonly Candidate[],
  window: VisitWindow,
  rule: SelectionRule,
): Candidate | undefined {
  if (candidates.length === 0) return undefined;
  if (rule === 'latest-before-start') {
    const before = candidates.filter((c) => c.day <= 0);
    if (before.length > 0) {
      return before.reduce((a, b) => (b.effective > a.effective ? b : a));
    }
  }
  return candidates.reduce((a, b) => {
    const da = Math.abs(a.day - window.targetDay);
    const db = Math.abs(b.day - window.targetDay);
    if (db < da) return b;
    if (db === da && b.effective < a.effective) return b;
    return a;
  });
}
