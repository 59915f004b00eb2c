import { describe, expect, it } from 'vitest';
import { LedgerClock } from './ledger-clock.js';

/** A counter standing in for Redis's INCR, which the test can set back (as a lossy restart does). */
function counter() {
  let value = 0;
  return {
    redis: { incr: async () => ++value },
    setBack: (to: number) => (value = to),
    fail: () => ({ incr: async (): Promise<number> => Promise.reject(new Error('connection lost')) }),
  };
}

describe('LedgerClock', () => {
  it('says nothing while the clock moves on, and reports once when Redis answers below what it saw', async () => {
    const { redis, setBack } = counter();
    const reports: [number, number][] = [];
    const clock = new LedgerClock(redis, 'k', (now, seen) => reports.push([now, seen]));
    for (let i = 0; i < 5; i++) expect(await clock.tick()).toBe(false);
    setBack(2); // Redis lost the increments 3..5
    expect(await clock.tick()).toBe(true);
    expect(reports).toEqual([[3, 5]]);
    // From there on, the clock counts from where Redis is.
    expect(await clock.tick()).toBe(false);
    expect(reports).toHaveLength(1);
  });

  it('an error (Redis away) is no report', async () => {
    const reports: number[] = [];
    const clock = new LedgerClock(counter().fail(), 'k', (now) => reports.push(now));
    expect(await clock.tick()).toBe(false);
    expect(reports).toEqual([]);
  });
});
