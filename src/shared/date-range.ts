/**
 * FHIR dates are ranges: "2021" covers the year, "2021-03-04" the day, a dateTime with seconds that
 * second. Both indexed values and search values become half-open [lo, hi) ranges in UTC, which is
 * how FHIR's date comparison prefixes are defined (search.html#date).
 */
export interface DateRange {
  lo: string;
  hi: string;
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export const NEG_INFINITY = '-infinity';
export const POS_INFINITY = 'infinity';

/** Parses a FHIR date, dateTime or instant into its range; undefined if malformed. */
export function parseDateRange(value: string): DateRange | undefined {
  const m = DATE_RE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  if (mo === undefined) return { lo: iso(Date.UTC(year, 0, 1)), hi: iso(Date.UTC(year + 1, 0, 1)) };
  const month = Number(mo) - 1;
  if (month < 0 || month > 11) return undefined;
  if (d === undefined) return { lo: iso(Date.UTC(year, month, 1)), hi: iso(Date.UTC(year, month + 1, 1)) };
  const day = Number(d);
  if (day < 1 || day > 31) return undefined;
  if (h === undefined) return { lo: iso(Date.UTC(year, month, day)), hi: iso(Date.UTC(year, month, day + 1)) };
  // A time without a zone is not valid FHIR for dateTime; read it as UTC rather than reject a search.
  const zone = tz ?? 'Z';
  const secs = s ?? '00';
  const base = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${secs}${frac ?? ''}${zone === 'Z' ? 'Z' : zone}`);
  if (Number.isNaN(base)) return undefined;
  const precisionMs = frac ? 10 ** (3 - Math.min(3, frac.length - 1)) : s === undefined ? 60_000 : 1000;
  return { lo: iso(base), hi: iso(base + precisionMs) };
}

export function periodRange(start: string | undefined, end: string | undefined): DateRange | undefined {
  const lo = start ? parseDateRange(start)?.lo : NEG_INFINITY;
  const hi = end ? parseDateRange(end)?.hi : POS_INFINITY;
  if (lo === undefined || hi === undefined) return undefined;
  return { lo, hi };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
