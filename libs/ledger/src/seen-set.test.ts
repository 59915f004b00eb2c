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
});
