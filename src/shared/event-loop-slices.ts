/**
 * Lets the event loop in during a long stretch of computation between two awaits of I/O: the
 * returned `slice()` resolves at once until `ms` of work has passed since the last turn, then after
 * one turn of the event loop (setImmediate), so that requests read and timers due meanwhile run.
 * A PostgreSQL batch of 200 subjects computes and plans for about a second with no I/O between
 * (docs/performance.md, issue 20): a read arriving then waited for all of it.
 */
export function eventLoopSlices(ms: number): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < ms) return;
    await new Promise((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}
