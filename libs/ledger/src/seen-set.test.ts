import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SeenSet } from './seen-set.js';

describe('SeenSet', () => {
  it('behaves like a Set of sequence numbers', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2_000_000 }), { maxLength: 300 }), (seqs) => {
        const seen = new SeenSet();
        const model = new Set<number>();
        for (const seq of seqs) {
          expect(seen.add(seq)).toBe(!model.has(seq));
          model.add(seq);
        }
        expect(seen.size).toBe(model.size);
        for (const seq of seqs) expect(seen.has(seq)).toBe(true);
        expect(seen.has(2_000_001)).toBe(false);
      }),
    );
  });

  it('removeFrom unmarks and returns exactly the seqs at or above the limit, as a Set would', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 200 }), fc.integer({ min: 0, max: 200_001 }), (seqs, limit) => {
        const seen = new SeenSet();
        for (const seq of seqs) seen.add(seq);
        const model = new Set(seqs);
        const removed = seen.removeFrom(limit).sort((a, b) => a - b);
        expect(removed).toEqual([...model].filter((seq) => seq >= limit).sort((a, b) => a - b));
        expect(seen.size).toBe([...model].filter((seq) => seq < limit).length);
        for (const seq of model) expect(seen.has(seq)).toBe(seq < limit);
      }),
    );
  });

  it('wouldSpread: a seq in a chunk already used never; one in a new chunk once the chunks outrun the seqs marked by `spare`', () => {
    const seen = new SeenSet();
    for (let seq = 0; seq < 40_000; seq++) seen.add(seq); // two chunks, the second partly
    expect(seen.wouldSpread(65_535, 0)).toBe(false);
    expect(seen.wouldSpread(65_536, 0)).toBe(true);
    expect(seen.wouldSpread(65_536, 1)).toBe(false);
    seen.add(10 ** 9);
    expect(seen.wouldSpread(2 * 10 ** 9, 1)).toBe(true);
    expect(seen.wouldSpread(10 ** 9 + 1, 1)).toBe(false);
  });
});
