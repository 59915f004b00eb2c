import { describe, expect, it } from 'vitest';
import { ByteWindow } from './byte-window.js';

describe('ByteWindow', () => {
  it('grants its whole window at first, and nothing more while all of it is owed', () => {
    const window = new ByteWindow(1000);
    expect(window.toGrant()).toBe(1000);
    expect(window.toGrant(true)).toBe(0);
  });

  it('shares a message among its jobs in whole bytes that add up to the message', () => {
    const window = new ByteWindow(1000);
    window.toGrant();
    expect(window.receive(10, 3)).toEqual([4, 3, 3]);
    expect([window.received, window.held, window.peak]).toEqual([10, 10, 10]);
  });

  it('keeps held plus owed within the window, granting what is released once it is worth a message', () => {
    const window = new ByteWindow(1000);
    window.toGrant();
    const shares = window.receive(800, 8);
    // 800 held, 200 owed: the window is full.
    expect(window.toGrant(true)).toBe(0);
    window.release(shares[0]!);
    // 100 free: less than a quarter of the window, so it waits, unless jobs credit goes out anyway.
    expect(window.toGrant()).toBe(0);
    expect(window.toGrant(true)).toBe(100);
    for (const share of shares.slice(1)) window.release(share);
    expect(window.toGrant()).toBe(700);
    expect(window.granted - window.received + window.held).toBe(1000);
  });
});
