/**
 * HL7 v2 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]) to a FHIR dateTime, keeping the offset the
 * message gives; a time without one is read in the site's time zone (mappings/hl7v2/systems.json),
 * since v2 labs send local wall-clock time. Returns undefined for anything that is not a valid TS.
 */
const TS = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(\.\d{1,4})?)?([+-]\d{4})?$/;

export function hl7TimeToFhir(ts: string | undefined, defaultOffset: string): string | undefined {
  if (!ts) return undefined;
  const m = TS.exec(ts.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, off] = m;
  if (mo && (Number(mo) < 1 || Number(mo) > 12)) return undefined;
  if (d && (Number(d) < 1 || Number(d) > 31)) return undefined;
  if (h && (Number(h) > 23 || Number(mi ?? '0') > 59 || Number(s ?? '0') > 59)) return undefined;
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  if (!h) return `${y}-${mo}-${d}`;
  const offset = off ? `${off.slice(0, 3)}:${off.slice(3)}` : defaultOffset;
  return `${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ?? ''}${offset}`;
}
