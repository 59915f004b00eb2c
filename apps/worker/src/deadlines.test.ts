import { afterEach, describe, expect, it } from 'vitest';
import { Deadlines } from './deadlines.js';

describe('Deadlines', () => {
  let deadlines: Deadlines | undefined;
  afterEach(() => deadlines?.close());

  it('expires entries past their timeout in order, and not cancelled ones', () => {
    deadlines = new Deadlines(100, 1_000_000);
    const expired: string[] = [];
    const now = Date.now();
    deadlines.add(() => expired.push('a'));
    const cancelB = deadlines.add(() => expired.push('b'));
    deadlines.add(() => expired.push('c'));
    cancelB();
    deadlines.check(now + 50);
    expect(expired).toEqual([]);
    deadlines.check(now + 10_000);
    expect(expired).toEqual(['a', 'c']);
    deadlines.check(now + 20_000);
    expect(expired).toEqual(['a', 'c']);
  });
});
