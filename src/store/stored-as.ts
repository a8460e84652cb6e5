/**
 * Reading a reference parameter that is kept in another parameter's index rows (StoredAs in
 * src/shared/search-request.ts): the other parameter's rows, restricted to the target types the
 * parameter's own rows would have held. Indexing keeps a reference whose type it cannot tell (an
 * absolute URL of another server) for any parameter, so that is kept here too.
 */
import type { StoredAs } from '../shared/search-request.ts';

/** `alias.param = …` for a parameter, and the restriction to its target types when stored as another. */
export function indexParamCondition(
  alias: string,
  code: string,
  storedAs: StoredAs | undefined,
  add: (v: unknown) => string,
): string {
  if (!storedAs) return `${alias}.param = ${add(code)}`;
  return `${alias}.param = ${add(storedAs.param)} AND ${storedTargetCondition(alias, storedAs, add)}`;
}

/** The rows of the stored parameter that the parameter's own rows would have held. */
export function storedTargetCondition(alias: string, storedAs: StoredAs, add: (v: unknown) => string): string {
  return `(position('://' in ${alias}.target) > 0 OR split_part(${alias}.target, '/', 1) = ANY(${add([...storedAs.targets])}::text[]))`;
}
