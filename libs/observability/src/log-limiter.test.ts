import { describe, expect, it } from 'vitest';
import { LogLimiter } from './log-limiter.js';

describe('LogLimiter', () => {
  it('lets through a few lines per key and interval, and then says how many it left out', () => {
    let now = 0;
    const limiter = new LogLimiter(2, 1000, () => now);
    const results = Array.from({ length: 5 }, () => limiter.allow('bad_json'));
    expect(results.map((r) => r !== undefined)).toEqual([true, true, false, false, false]);
    expect(limiter.allow('too_large')).toEqual({ suppressed: 0 });
    now = 1000;
    expect(limiter.allow('bad_json')).toEqual({ suppressed: 3 });
    expect(limiter.allow('bad_json')).toEqual({ suppressed: 0 });
    expect(limiter.allow('bad_json')).toBeUndefined();
  });
});
