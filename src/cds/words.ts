/**
 * The words and units clinicians write, one spelling for the card, the trial page and the overview
 * (a UCUM code such as 10*9/L is for machines). Pure, and bundled into the browser pages too.
 */

const UNITS: Record<string, string> = {
  '10*9/L': '×10⁹/L',
  '10*12/L': '×10¹²/L',
  'ng/mL': 'ng/mL',
  'g/L': 'g/L',
  mL: 'mL',
  'mg/dL': 'mg/dL',
  'U/L': 'U/L',
  kg: 'kg',
};

export function unitWords(ucum: string): string {
  return UNITS[ucum] ?? ucum;
}

const CODES: Record<string, string> = {
  below: 'Below target',
  'in-range': 'In target',
  above: 'Above target',
  'not-yet-due': 'Not yet due',
  due: 'Due now',
  done: 'Done',
  overdue: 'Overdue',
  missed: 'Missed',
};

/** A code of the adapter's own (visit state, trough class) in words. */
export function codeWords(code: string): string {
  const known = CODES[code];
  if (known) return known;
  const spaced = code.replaceAll('-', ' ');
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

/**
 * A declared category's display without the definition in its closing parenthesis, for a line
 * where the definition would not fit: "Partial involution (decrease of 10% or more …)" → "Partial involution".
 */
export function shortDisplay(display: string): string {
  return display.replace(/\s*\([^()]*\)$/, '') || display;
}

/** Whole days from an ISO date(-time) to today, by calendar date. */
export function daysSince(iso: string, today: string): number {
  const from = Date.parse(`${iso.slice(0, 10)}T00:00:00Z`);
  const to = Date.parse(`${today.slice(0, 10)}T00:00:00Z`);
  return Math.round((to - from) / 86_400_000);
}

export function ageWords(days: number): string {
  if (days <= 0) return 'today';
  if (days === 1) return 'yesterday';
  return `${days} days ago`;
}

export function numberWords(value: number, decimals: number): string {
  return value.toFixed(decimals);
}
