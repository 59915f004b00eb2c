import { describe, expect, it } from 'vitest';
import type { JobResult } from '@jobpipe/protocol';
import { ParkedResults, type RecordGroup } from './parked-results.js';

const MIB = 1024 * 1024;
const group = (batch: string, worker: string, n: number, bytes = 100 * n): RecordGroup => ({
  batch,
  worker,
  results: Array.from({ length: n }, (_, seq): JobResult => ({ batch, seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: seq })),
  bytes,
});

describe('ParkedResults', () => {
  it('parks groups up to the limit in results, and refuses what would pass it', () => {
    const parked = new ParkedResults({ maxResults: 5, maxBytes: MIB });
    expect(parked.park(group('a', 'w1', 3))).toBe(true);
    expect(parked.park(group('a', 'w2', 3))).toBe(false);
    expect(parked.park(group('b', 'w1', 2))).toBe(true);
    expect(parked.results).toBe(5);
  });

  it('parks groups up to the limit in bytes, however few their results, and refuses what would pass it', () => {
    const parked = new ParkedResults({ maxResults: 20_000, maxBytes: 3 * MIB });
    expect(parked.park(group('a', 'w1', 1, MIB))).toBe(true);
    expect(parked.park(group('b', 'w1', 2, 2 * MIB))).toBe(true);
    expect(parked.park(group('a', 'w2', 1, 1))).toBe(false); // full: not one byte more
    expect(parked.park(group('c', 'w1', 1, 4 * MIB))).toBe(false); // larger than the whole budget
    expect(parked.bytes).toBe(3 * MIB);
    expect(parked.results).toBe(3);
    expect(parked.take('a').map((g) => g.worker)).toEqual(['w1']);
    expect(parked.bytes).toBe(2 * MIB);
    expect(parked.park(group('c', 'w1', 1, MIB + 1))).toBe(false);
    expect(parked.park(group('c', 'w1', 1, MIB))).toBe(true);
  });

  it('counts a fractional share in whole bytes, and gives back exactly what it counted', () => {
    const parked = new ParkedResults({ maxResults: 100, maxBytes: 10 });
    expect(parked.park(group('a', 'w1', 1, 100 / 3))).toBe(false); // 34 bytes
    expect(parked.park(group('a', 'w1', 1, 10 / 3))).toBe(true); // 4
    expect(parked.park(group('a', 'w2', 1, 10 / 3))).toBe(true); // 8
    expect(parked.park(group('b', 'w1', 1, 10 / 3))).toBe(false); // 12 would pass 10
    expect(parked.bytes).toBe(8);
    parked.take('a');
    expect(parked.bytes).toBe(0);
  });

  it('parks nothing with a limit of 0 bytes', () => {
    expect(new ParkedResults({ maxResults: 100, maxBytes: 0 }).park(group('a', 'w1', 1))).toBe(false);
  });

  it("take hands back a batch's groups once and frees their room", () => {
    const parked = new ParkedResults({ maxResults: 5, maxBytes: 500 });
    parked.park(group('a', 'w1', 3));
    parked.park(group('a', 'w2', 1));
    expect(parked.take('a').map((g) => g.worker)).toEqual(['w1', 'w2']);
    expect(parked.take('a')).toEqual([]);
    expect(parked.results).toBe(0);
    expect(parked.bytes).toBe(0);
    expect(parked.park(group('c', 'w1', 5))).toBe(true);
  });
});
