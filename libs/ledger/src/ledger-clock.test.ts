import { describe, expect, it } from 'vitest';
import { LedgerClock, type ClockRedis } from './ledger-clock.js';

const keys = { clock: 'clock', wentBack: 'went-back' };

/** Two keys standing in for Redis, shared by every clock made on it; `setBack` is a lossy restart. */
function fakeRedis() {
  const store = new Map<string, number>();
  let down = false;
  const incr = async (key: string) => {
    if (down) throw new Error('connection lost');
    store.set(key, (store.get(key) ?? 0) + 1);
    return store.get(key)!;
  };
  const redis: ClockRedis = {
    incr,
    pipeline() {
      const steps: (() => Promise<unknown>)[] = [];
      return {
        incr: (key: string) => steps.push(() => incr(key)),
        get: (key: string) => steps.push(async () => (store.has(key) ? String(store.get(key)) : null)),
        exec: async () => {
          if (down) throw new Error('connection lost');
          const replies: [Error | null, unknown][] = [];
          for (const step of steps) replies.push([null, await step()]);
          return replies;
        },
      };
    },
  };
  return { redis, setBack: (clock: number) => store.set('clock', clock), down: (value: boolean) => (down = value) };
}

describe('LedgerClock', () => {
  it('says nothing while the clock moves on, and reports once when Redis answers below what it saw', async () => {
    const { redis, setBack } = fakeRedis();
    const reports: [number?, number?][] = [];
    const clock = new LedgerClock(redis, keys, (now, seen) => reports.push([now, seen]));
    for (let i = 0; i < 5; i++) expect(await clock.tick()).toBe(false);
    setBack(2); // Redis lost the increments 3..5
    expect(await clock.tick()).toBe(true);
    expect(reports).toEqual([[3, 5]]);
    // From there on, the clock counts from where Redis is.
    expect(await clock.tick()).toBe(false);
    expect(reports).toHaveLength(1);
  });

  it('tells the other roles: one whose own increments the loss did not take hears of it at its next tick, once', async () => {
    const { redis, setBack } = fakeRedis();
    const heard: string[] = [];
    const a = new LedgerClock(redis, keys, (now) => heard.push(`a ${now ?? 'told'}`));
    const b = new LedgerClock(redis, keys, (now) => heard.push(`b ${now ?? 'told'}`));
    await b.tick(); // 1
    await a.tick(); // 2
    await a.tick(); // 3: Redis then goes back to 2, losing only a's last increment
    setBack(2);
    expect(await a.tick()).toBe(true); // 3 again: no more than a saw
    expect(await b.tick()).toBe(true); // 4, more than b saw: b hears of it from a
    expect(await a.tick()).toBe(false);
    expect(await b.tick()).toBe(false);
    expect(heard).toEqual(['a 3', 'b told']);
  });

  it('an error (Redis away) is no report', async () => {
    const { redis, down } = fakeRedis();
    const reports: unknown[] = [];
    const clock = new LedgerClock(redis, keys, (now) => reports.push(now));
    down(true);
    expect(await clock.tick()).toBe(false);
    expect(reports).toEqual([]);
  });
});
