import { describe, expect, it } from 'vitest';
import { DispatchGate, localTokens } from './dispatch-gate.js';

const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DispatchGate', () => {
  it('lets any number go without a limit, none while paused, and wakes the dispatcher on resume', () => {
    let woken = 0;
    const gate = new DispatchGate(
      async () => 0,
      () => woken++,
    );
    expect(gate.allowance(500)).toBe(500);
    gate.set(true, 0);
    expect(gate.allowance(500)).toBe(0);
    gate.set(false, 0);
    expect([gate.allowance(7), woken]).toEqual([7, 1]);
  });

  it('lets go what the rate limit has tokens for, asks for more in the background, and wakes when they come', async () => {
    const asked: number[][] = [];
    let woken = 0;
    const gate = new DispatchGate(
      async (rate, burst, want) => (asked.push([rate, burst, want]), Math.min(want, 3)),
      () => woken++,
    );
    gate.set(false, 50);
    expect(gate.allowance(10)).toBe(0); // none yet: asked
    await tick();
    expect(asked).toEqual([[50, 5, 5]]); // a burst of a tenth of a second's worth
    expect(woken).toBeGreaterThanOrEqual(1);
    expect(gate.allowance(10)).toBe(3);
    gate.spend(3);
    expect(gate.allowance(10)).toBe(0);
    expect(gate.waits).toBe(2);
  });

  it('waits about a token before asking again when the bucket was empty', async () => {
    let woken = 0;
    const gate = new DispatchGate(
      async () => 0,
      () => woken++,
    );
    gate.set(false, 100); // a token every 10 ms
    expect(woken).toBe(1); // from set
    gate.allowance(1);
    const asked = performance.now();
    while (woken < 2 && performance.now() - asked < 2000) await tick(1);
    expect(woken).toBe(2);
    expect(performance.now() - asked).toBeGreaterThanOrEqual(9);
    gate.stop();
  });
});

describe('localTokens', () => {
  it('fills at the rate up to the burst, and gives what it has', async () => {
    let now = 0;
    const take = localTokens(() => now);
    expect(await take(100, 10, 25)).toBe(10); // starts full
    expect(await take(100, 10, 25)).toBe(0);
    now = 50; // 5 tokens later
    expect(await take(100, 10, 25)).toBe(5);
    now = 10_000;
    expect(await take(100, 10, 3)).toBe(3);
    expect(await take(100, 10, 25)).toBe(7);
  });
});
