/**
 * What held a slow request (bench diagnostics, TRACE_SLOW_READS=1): every transaction's wait for
 * the store and how long it held it, every statement sent outside one, and every stretch in which
 * this process's event loop did not run, kept with their times so that a slow request can be
 * explained afterwards by what overlapped it.
 */
import type { Db } from '../../src/store/db.ts';

interface Span {
  kind: 'transaction' | 'statement' | 'loop-blocked';
  /** When it was asked for, when it got the store (a transaction's first statement), when it ended (ms, performance.now()). */
  asked: number;
  started: number;
  ended: number;
  /** A statement's first words. */
  what: string;
}

export interface StoreTrace {
  /** The spans that overlapped [from, to], as lines (times relative to `from`). */
  explain(from: number, to: number): string[];
  stop(): void;
}

const LOOP_TICK_MS = 10;
const LOOP_BLOCKED_MS = 50;

export function traceStore(db: Db): StoreTrace {
  const spans: Span[] = [];
  const query = db.query.bind(db);
  const exec = db.exec.bind(db);
  const transaction = db.transaction.bind(db);
  const patched = db as { query: Db['query']; exec: Db['exec']; transaction: Db['transaction'] };
  patched.query = (async (text: string, params?: unknown[], name?: string) => {
    const asked = performance.now();
    try {
      return await query(text, params, name);
    } finally {
      const ended = performance.now();
      spans.push({ kind: 'statement', asked, started: asked, ended, what: text.replace(/\s+/g, ' ').slice(0, 60) });
    }
  }) as Db['query'];
  patched.exec = async (text: string) => {
    const asked = performance.now();
    try {
      await exec(text);
    } finally {
      const ended = performance.now();
      spans.push({ kind: 'statement', asked, started: asked, ended, what: text.replace(/\s+/g, ' ').slice(0, 60) });
    }
  };
  patched.transaction = (async (fn, options) => {
    const asked = performance.now();
    let started = asked;
    let statements = 0;
    // Its longest statement: what the transaction spent its time on.
    let longest = { ms: 0, text: '' };
    try {
      return await transaction(async (tx, first) => {
        started = performance.now();
        const inner = tx.query.bind(tx);
        return fn(
          {
            ...tx,
            query: (async (text: string, params?: unknown[], name?: string) => {
              statements++;
              const from = performance.now();
              try {
                return await inner(text, params, name);
              } finally {
                const ms = performance.now() - from;
                if (ms > longest.ms) longest = { ms, text };
              }
            }) as typeof tx.query,
          },
          first,
        );
      }, options);
    } finally {
      spans.push({
        kind: 'transaction',
        asked,
        started,
        ended: performance.now(),
        what: `${statements} statements, longest ${Math.round(longest.ms)} ms: ${longest.text.replace(/\s+/g, ' ').slice(0, 80)}`,
      });
    }
  }) as Db['transaction'];
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    if (now - last > LOOP_TICK_MS + LOOP_BLOCKED_MS)
      spans.push({ kind: 'loop-blocked', asked: last, started: last, ended: now, what: '' });
    last = now;
  }, LOOP_TICK_MS);
  return {
    explain(from, to) {
      const r = (x: number): number => Math.round(x - from);
      return spans
        .filter((s) => s.ended >= from && s.asked <= to)
        .filter((s) => s.kind !== 'statement' || s.ended - s.asked > 20)
        .map(
          (s) =>
            `   ${s.kind} asked ${r(s.asked)} got ${r(s.started)} ended ${r(s.ended)} (held ${Math.round(s.ended - s.started)} ms) ${s.what}`,
        );
    },
    stop() {
      clearInterval(ticker);
      patched.query = query;
      patched.exec = exec;
      patched.transaction = transaction;
    },
  };
}
