import { describe, expect, it } from 'vitest';
import { checkBatchId } from './queue-name.js';

describe('checkBatchId', () => {
  it('takes letters, digits and . _ -, up to 100', () => {
    expect(checkBatchId('nightly-2026.12.04_a')).toBe('nightly-2026.12.04_a');
    expect(() => checkBatchId('a b')).toThrow(/must be 1-100 letters/);
    expect(() => checkBatchId('x'.repeat(101))).toThrow(/must be 1-100 letters/);
  });

  it("refuses the names of the intake queue's own keys, which the batch's job would overwrite", () => {
    for (const id of ['wait', 'active', 'meta', 'id', 'events']) expect(() => checkBatchId(id)).toThrow(/intake queue's own keys/);
    expect(checkBatchId('waiting')).toBe('waiting');
  });
});
