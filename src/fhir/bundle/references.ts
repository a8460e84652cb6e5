/**
 * Transaction reference rewriting (http.html#trules): every reference and uri in the Bundle equal to
 * a fullUrl the transaction assigned an id to is replaced with the new "Type/id".
 */
export function rewriteReferences<T>(value: T, mapping: ReadonlyMap<string, string>): T {
  if (mapping.size === 0) return value;
  return walk(value, mapping) as T;
}

function walk(value: unknown, mapping: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return mapping.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => walk(v, mapping));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(v, mapping);
    return out;
  }
  return value;
}
