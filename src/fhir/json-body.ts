/**
 * The one JSON reader for request bodies. JSON.parse accepts what FHIR does not (json.html): it
 * replaces invalid UTF-8, rounds numbers it cannot hold (1e-400 becomes 0, 2^64 loses digits) and
 * takes `__proto__` as a key; and nesting thousands deep overflows the stack of whatever walks the
 * result. Each is a 400 here, found before anything else looks at the body.
 */
import { badRequest, fail } from '../shared/outcomes.ts';

/** Deep enough for any FHIR resource (nested Questionnaire items in a Bundle), far from the stack's limit. */
export const DEFAULT_MAX_JSON_DEPTH = 100;

/** Names JavaScript gives meaning to: no FHIR element has them (R4 element names). */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export function decodeUtf8(raw: Uint8Array, what = 'The body'): string {
  try {
    return utf8.decode(raw);
  } catch {
    fail(badRequest(`${what} is not valid UTF-8 (FHIR JSON is UTF-8; invalid bytes are not replaced)`));
  }
}

/**
 * Parses a JSON text after one linear pass that bounds its nesting and checks every number; then
 * rejects forbidden property names. Any failure is a 400 OperationOutcome naming what was wrong.
 */
export function parseJsonText(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH, what = 'The body'): unknown {
  scan(text, maxDepth, what);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail(badRequest(`Malformed JSON: ${(err as Error).message}`));
  }
  checkKeys(parsed, text);
  return parsed;
}

export function parseJsonBody(raw: Uint8Array, maxDepth = DEFAULT_MAX_JSON_DEPTH, what = 'The body'): unknown {
  return parseJsonText(decodeUtf8(raw, what), maxDepth, what);
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Depth and numbers, outside strings; malformed text is left to JSON.parse to describe. */
function scan(text: string, maxDepth: number, what: string): void {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string with the engine's own search (most of a FHIR body is string content): a
      // quote preceded by an odd number of backslashes is escaped and does not end it.
      let end = text.indexOf('"', i + 1);
      while (end > 0 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end < 0) return;
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > maxDepth) fail(badRequest(`${what} is nested deeper than ${maxDepth} levels`));
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) continue;
      const token = m[0];
      if (!isExact(token)) {
        fail(
          badRequest(`The number ${token} cannot be represented exactly; send it with at most 15 significant digits`),
        );
      }
      i += token.length - 1;
    }
  }
}

function isEscaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let j = quote - 1; text.charCodeAt(j) === 0x5c; j--) backslashes++;
  return backslashes % 2 === 1;
}

/**
 * Short plain numbers always survive a double (15 significant digits); anything else must come back
 * from the double with the same digits and the same magnitude.
 */
export function isExact(token: string): boolean {
  if (token.length <= 15 && !/[eE]/.test(token)) return true;
  const value = Number(token);
  if (!Number.isFinite(value)) return false;
  const sent = decimalOf(token);
  const held = decimalOf(String(value));
  return sent.digits === held.digits && (sent.digits === '' || sent.exponent === held.exponent);
}

/** A decimal as its significant digits and the power of ten of the first one (sign ignored: -0 is 0). */
function decimalOf(s: string): { digits: string; exponent: number } {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m) return { digits: s, exponent: 0 };
  const int = m[1] ?? '';
  const frac = m[2] ?? '';
  const all = int + frac;
  const lead = all.search(/[1-9]/);
  if (lead < 0) return { digits: '', exponent: 0 };
  const digits = all.slice(lead).replace(/0+$/, '');
  return { digits, exponent: int.length - 1 - lead + Number(m[3] ?? 0) };
}

/**
 * A forbidden name can only be in the parsed value if its letters are in the text, or were written
 * with \\u escapes: the walk (which costs as much as the parse) runs only then.
 */
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;

function checkKeys(value: unknown, text: string): void {
  if (!MAY_HOLD_FORBIDDEN_KEY.test(text)) return;
  const at = forbiddenKeyPath(value);
  if (at) fail(badRequest(`The property name ${at.key} is not allowed`, at.path));
}

/** The first forbidden name and its path; the path is built only for the one found. */
function forbiddenKeyPath(value: unknown): { key: string; path: string } | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = forbiddenKeyPath(value[i]);
      if (found)
        return {
          key: found.key,
          path: `[${i}]${found.path ? (found.path.startsWith('[') ? '' : '.') + found.path : ''}`,
        };
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return { key, path: key };
    const found = forbiddenKeyPath((value as Record<string, unknown>)[key]);
    if (found)
      return { key: found.key, path: found.path.startsWith('[') ? `${key}${found.path}` : `${key}.${found.path}` };
  }
  return undefined;
}
