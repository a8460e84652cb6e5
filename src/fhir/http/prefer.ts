/** The Prefer header (RFC 7240) as FHIR uses it: return=… and handling=…. */
export interface Preferences {
  return: 'minimal' | 'representation' | 'OperationOutcome';
  strict: boolean;
}

export function parsePrefer(header: string | undefined): Preferences {
  const prefs: Preferences = { return: 'representation', strict: false };
  for (const part of (header ?? '').split(/[,;]/)) {
    const [k, v] = part
      .trim()
      .split('=')
      .map((s) => s.trim().replace(/^"|"$/g, ''));
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) prefs.return = v;
    if (k === 'handling' && v === 'strict') prefs.strict = true;
  }
  return prefs;
}
