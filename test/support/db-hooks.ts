// Stores that let a test act around the statements a job sends, and a stand-in for a request
// that reaches the embedded store while a job holds it.
import type { Db } from '../../src/store/db.ts';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The store, with `around` wrapped about every `exec` (it calls `run` to send the statement). */
export function aroundExec(db: Db, around: (text: string, run: () => Promise<void>) => Promise<void>): Db {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'exec') return (text: string) => around(text, () => target.exec(text));
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * A request as the service runs one: its read, then, a few turns of the event loop later, its
 * AuditEvent; each noted in `events` ('read', 'audit') once answered.
 */
export async function readThenAudit(db: Db, events: string[]): Promise<void> {
  await db.query('SELECT 1');
  events.push('read');
  for (let i = 0; i < 3; i++) await turn();
  await db.query('SELECT 2');
  events.push('audit');
}
