/**
 * Statements prepared once per connection for a caller that runs a few fixed statements very
 * often with small inputs: PostgreSQL then parses and plans each once per connection instead of on
 * every run. One subject after one result sends about fifteen, several of them large CTEs, whose
 * planning took 4.3-4.5 ms of the server's time on a loaded machine; named, one subject took
 * 0.5-3 ms less in alternating samples (docs/performance.md, issue 20). PGlite ignores the names.
 *
 * Only for small inputs: after five runs PostgreSQL may keep a generic plan, made without the
 * values, which is the right one for a handful of rows and not always for a bulk batch's thousands
 * (those are planned for their size, unnamed).
 */
import { createHash } from 'node:crypto';
import type { Queryable, QueryResult } from './db.ts';

/**
 * Distinct texts named at most, process-wide: each is prepared on every connection that runs it and
 * kept by the server for the connection's life, so a text built from its inputs must not make the
 * server keep one plan per input. Beyond it, statements run unnamed, as before.
 */
export const MAX_PREPARED_TEXTS = 64;

const names = new Map<string, string>();

/** The statement's name, the same for the same text (a prefix no other caller uses). */
function nameOf(text: string): string | undefined {
  const known = names.get(text);
  if (known !== undefined || names.size >= MAX_PREPARED_TEXTS) return known;
  const name = `small_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
  names.set(text, name);
  return name;
}

/** `q`, whose statements with parameters are prepared once per connection (see above). */
export function preparing(q: Queryable): Queryable {
  return {
    query: <R extends object>(text: string, params?: unknown[], name?: string): Promise<QueryResult<R>> =>
      q.query<R>(text, params, name ?? (params !== undefined && params.length > 0 ? nameOf(text) : undefined)),
    exec: (text: string) => q.exec(text),
    soleWriter: q.soleWriter,
  };
}
