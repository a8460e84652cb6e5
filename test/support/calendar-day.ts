/**
 * Today's UTC date for tests whose expectations say "N days ago": the service computes the age when
 * it answers, the test when its module loads. A file loaded just before midnight UTC and asserting
 * just after would expect one day less than the service says, so a file that starts in the last
 * minutes of a UTC day waits for the next one before taking its date.
 */
const GUARD_MS = 5 * 60_000;

export async function utcTodayClearOfMidnight(guardMs = GUARD_MS, now: () => number = Date.now): Promise<string> {
  const t = now();
  const untilMidnight = 86_400_000 - (t % 86_400_000);
  if (untilMidnight <= guardMs) await new Promise((r) => setTimeout(r, untilMidnight + 1_000));
  return new Date(now()).toISOString().slice(0, 10);
}
