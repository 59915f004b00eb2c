import { describe, expect, it } from 'vitest';
import type { JobResult } from '@jobpipe/protocol';
import { MemoryResultLedger } from './memory-result-ledger.js';

const ok = (seq: number): JobResult => ({ batch: 'b', seq, attempt: 1, dispatchedAt: 0, durationMs: 1, ok: true, value: seq });

describe('MemoryResultLedger', () => {
  it('records seqs far apart only while they fill as many chunks as a ventilator could have out: made-up ones cannot grow it at will', async () => {
    const ledger = new MemoryResultLedger();
    await ledger.begin('b');
    // A real batch's results, in order, 0 to 99,999.
    const real = await ledger.record(
      'b',
      'w',
      Array.from({ length: 100_000 }, (_, seq) => ok(seq)),
    );
    expect(real.outcomes).toBe('R'.repeat(100_000));
    // A rogue's: each 2^20 apart, so each would take a chunk of its own.
    const forged = await ledger.record(
      'b',
      'rogue',
      Array.from({ length: 1000 }, (_, n) => ok((n + 1) * 2 ** 20)),
    );
    const recorded = [...forged.outcomes].filter((outcome) => outcome === 'R').length;
    expect(recorded).toBe(640);
    expect(forged.outcomes.slice(recorded)).toBe('O'.repeat(1000 - recorded));
    // The end, once known, takes out the ones past it.
    expect(await ledger.setTotal('b', 100_000)).toMatchObject({ done: 100_000, total: 100_000 });
  });
});
