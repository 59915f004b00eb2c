import { describe, expect, it } from 'vitest';
import type { JobResult } from '@jobpipe/protocol';
import { ParkedResults } from './parked-results.js';

const group = (batch: string, worker: string, n: number) => ({
  batch,
  worker,
  results: Array.from({ length: n }, (_, seq): JobResult => ({ batch, seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: seq })),
});

describe('ParkedResults', () => {
  it('parks groups up to the limit in results, and refuses what would pass it', () => {
    const parked = new ParkedResults(5);
    expect(parked.park(group('a', 'w1', 3))).toBe(true);
    expect(parked.park(group('a', 'w2', 3))).toBe(false);
    expect(parked.park(group('b', 'w1', 2))).toBe(true);
    expect(parked.results).toBe(5);
  });

  it("take hands back a batch's groups once and frees their room", () => {
    const parked = new ParkedResults(5);
    parked.park(group('a', 'w1', 3));
    parked.park(group('a', 'w2', 1));
    expect(parked.take('a').map((g) => g.worker)).toEqual(['w1', 'w2']);
    expect(parked.take('a')).toEqual([]);
    expect(parked.results).toBe(0);
    expect(parked.park(group('c', 'w1', 5))).toBe(true);
  });
});
