import { describe, expect, it } from 'vitest';
import { utcTodayClearOfMidnight } from './calendar-day.ts';

describe('utcTodayClearOfMidnight', () => {
  it('answers at once in the middle of a UTC day', async () => {
    const noon = Date.parse('2026-12-05T12:00:00Z');
    const t = performance.now();
    expect(await utcTodayClearOfMidnight(5 * 60_000, () => noon)).toBe('2026-12-05');
    expect(performance.now() - t).toBeLessThan(100);
  });

  it('waits for the next UTC day when started within the guard before midnight', async () => {
    const start = Date.now();
    const base = Date.parse('2026-12-05T23:59:59.700Z');
    const clock = () => base + (Date.now() - start);
    expect(await utcTodayClearOfMidnight(5 * 60_000, clock)).toBe('2026-12-06');
    expect(Date.now() - start).toBeGreaterThanOrEqual(1_000);
  });
});
