/**
 * Exact comparisons of decimal values: a lesion of 12.3 mL that shrinks to 11.07 mL has lost exactly
 * 10%, and binary floating point must not make that 9.999…%. Numbers are read as the decimals
 * they were written as (their shortest representation) and compared as scaled integers.
 */

interface Scaled {
  int: bigint;
  scale: number;
}

function scaled(n: number): Scaled {
  const s = String(n);
  if (/e/i.test(s)) {
    // Very large or small magnitudes: fixed notation with enough digits for lab values.
    return scaled(Number(n.toFixed(12)));
  }
  const [whole, frac = ''] = s.split('.');
  return { int: BigInt(`${whole}${frac}`), scale: frac.length };
}

function aligned(a: number, b: number): [bigint, bigint] {
  const x = scaled(a);
  const y = scaled(b);
  const s = Math.max(x.scale, y.scale);
  return [x.int * 10n ** BigInt(s - x.scale), y.int * 10n ** BigInt(s - y.scale)];
}

/** Sign of (current − baseline) × 100 − percent × baseline: where the change stands against a percent. */
export function comparePercentChange(baseline: number, current: number, percent: number): -1 | 0 | 1 {
  const [b, c] = aligned(baseline, current);
  const p = scaled(percent);
  // (c − b) × 100 × 10^p.scale  vs  p.int × b
  const left = (c - b) * 100n * 10n ** BigInt(p.scale);
  const right = p.int * b;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Sign of a − b, exactly. */
export function compareExact(a: number, b: number): -1 | 0 | 1 {
  const [x, y] = aligned(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Sign of a − factor × b, exactly (e.g. bilirubin against 1.5 × ULN). */
export function compareToMultiple(a: number, factor: number, b: number): -1 | 0 | 1 {
  const x = scaled(a);
  const f = scaled(factor);
  const y = scaled(b);
  // a × 10^(f.scale + y.scale)  vs  f.int × y.int × 10^(x.scale)
  const left = x.int * 10n ** BigInt(f.scale + y.scale);
  const right = f.int * y.int * 10n ** BigInt(x.scale);
  return left < right ? -1 : left > right ? 1 : 0;
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
