import { describe, expect, it } from 'vitest';
import { CreditWindow } from './credit-window.js';

describe('CreditWindow', () => {
  it('grants concurrency plus one job of prefetch before any throughput is known', () => {
    const window = new CreditWindow(4, 20, 2000, 0);
    expect(window.toGrant(0)).toBe(5);
    expect(window.granted).toBe(5);
    expect(window.toGrant(0)).toBe(0); // all of it is still owed by the ventilator
  });

  it('never lets held plus owed jobs exceed concurrency plus prefetch', () => {
    const window = new CreditWindow(2, 20, 2000, 0);
    window.toGrant(0);
    window.received = 3;
    expect(window.toGrant(3)).toBe(0);
    expect(window.toGrant(2)).toBe(1);
    expect(window.granted - window.received + 2).toBeLessThanOrEqual(2 + window.prefetch);
  });

  it('grows the prefetch with measured throughput and caps it', () => {
    const window = new CreditWindow(1, 20, 500, 0);
    window.completed(1000);
    window.sample(100); // 10,000 jobs/s -> 20 ms worth is 200 jobs
    expect(window.prefetch).toBe(200);
    window.completed(100_000);
    window.sample(200);
    expect(window.prefetch).toBe(500);
  });

  it("takes a rate well above a cold start's estimate at once, without waiting for a sample", () => {
    const window = new CreditWindow(1, 50, 2000, 0);
    // The first 16 jobs took 160 ms (a cold process): 100 jobs/s, 5 jobs of prefetch.
    window.completed(1, 10);
    window.completed(15, 170);
    expect(window.prefetch).toBe(5);
    window.sample(200); // 16 jobs in 200 ms: the estimate decays to 94 jobs/s
    expect(window.prefetch).toBe(5);
    // Then 100 jobs in the next 5 ms: 20,000 jobs/s, taken as they finish.
    window.completed(100, 205);
    expect(window.ratePerSecond).toBe(20_000);
    expect(window.prefetch).toBe(1000);
    // Less than twice the estimate (5,000 jobs/s) is left to the sample, which decays it slowly.
    window.completed(50, 215);
    expect(window.ratePerSecond).toBe(20_000);
  });

  it('takes back, when idle, the credit beyond its slots and one job, and measures its rate afresh', () => {
    const window = new CreditWindow(2, 50, 2000, 0);
    window.completed(1000, 0);
    window.sample(100); // 10,000 jobs/s: 500 of prefetch
    expect(window.prefetch).toBe(500);
    window.toGrant(0);
    window.received = 100;
    expect(window.granted - window.received).toBe(402);
    expect(window.takeBack()).toBe(true);
    expect([window.granted, window.prefetch]).toEqual([103, 1]);
    expect(window.takeBack()).toBe(false);
    expect(window.toGrant(0)).toBe(0);
  });

  it('keeps a slow worker to a single job of prefetch', () => {
    const window = new CreditWindow(1, 20, 2000, 0);
    window.completed(10);
    window.sample(1000); // 10 jobs/s
    expect(window.prefetch).toBe(1);
  });

  it('leaves the estimate alone over idle periods and decays it slowly', () => {
    const window = new CreditWindow(1, 100, 2000, 0);
    window.completed(100);
    window.sample(100); // 1,000/s
    window.sample(200); // idle
    expect(window.ratePerSecond).toBe(1000);
    window.completed(10);
    window.sample(300); // 100/s measured
    expect(window.ratePerSecond).toBeCloseTo(730);
  });

  it('holds back grants too small to be worth a message while jobs are still on hand', () => {
    const window = new CreditWindow(1, 20, 2000, 0);
    window.completed(4000);
    window.sample(100); // 40,000/s -> prefetch 800, worth a message at 200
    expect(window.toGrant(0)).toBe(801);
    window.received = 801;
    expect(window.toGrant(700)).toBe(0); // wants 101: not yet
    expect(window.toGrant(500)).toBe(301);
  });
});
