/**
 * The search index rows of one resource version and the normal forms of the values in them: what
 * the FHIR layer's extraction (src/fhir/search/index-values.ts) writes and the store's search SQL
 * (src/store/search-conditions.ts) compares against, so both sides normalise alike.
 */

export interface IndexRows {
  tokens: [param: string, system: string | null, code: string][];
  references: [param: string, target: string][];
  dates: [param: string, lo: string, hi: string][];
  strings: [param: string, value: string][];
  numbers: [param: string, value: number, system: string | null, code: string | null][];
}

export function normaliseString(s: string): string {
  return s
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .trim();
}

/**
 * Reduces a reference to the form we index and search: "Type/id" for resources on this server
 * (relative, or absolute under our base), the absolute URL otherwise.
 */
export function normaliseReference(reference: string, baseUrl: string): string {
  let ref = reference;
  if (baseUrl && ref.startsWith(`${baseUrl}/`)) ref = ref.slice(baseUrl.length + 1);
  const history = ref.indexOf('/_history/');
  if (history > 0 && !ref.includes('://')) ref = ref.slice(0, history);
  return ref;
}
