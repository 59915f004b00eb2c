import { describe, expect, it } from 'vitest';
import { ProgressBook } from './progress-book.js';

describe('the progress book', () => {
  it("keeps a batch's progress over time, a point per step, and its rate", () => {
    const book = new ProgressBook();
    for (let second = 0; second <= 10; second++) book.add('b', second * 100, 1_000_000 + second * 1000);
    const history = book.history('b');
    // A point every 2 s at most, the newest always the last heard.
    expect(history.length).toBeLessThanOrEqual(7);
    expect(history.at(-1)).toEqual({ at: 1_010_000, done: 1000 });
    expect(history[0]).toEqual({ at: 1_000_000, done: 0 });
    expect(book.rate('b')).toBeCloseTo(100, 5);
  });

  it('knows nothing of a batch it never heard of', () => {
    const book = new ProgressBook();
    expect(book.history('x')).toEqual([]);
    expect(book.rate('x')).toBeNull();
  });
});
