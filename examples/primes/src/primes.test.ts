import { describe, expect, it } from 'vitest';
import { parseInput } from '@jobpipe/pipeline';
import pipeline, { checkInput } from './pipeline.js';
import { countPrimesBelow, countPrimesInRange } from './primes.js';

describe('primes example', () => {
  it('agrees with the sieve and with known values of pi(x)', () => {
    expect(countPrimesBelow(100)).toBe(25);
    expect(countPrimesBelow(1_000_000)).toBe(78_498);
    let total = 0;
    for (let from = 0; from < 100_000; from += 7_777) total += countPrimesInRange(from, Math.min(100_000, from + 7_777));
    expect(total).toBe(countPrimesBelow(100_000));
  });

  it('splits into ranges that cover the input exactly once', () => {
    const ranges = [...(pipeline.split({ limit: 1000, chunk: 300 }) as Iterable<{ from: number; to: number }>)];
    expect(ranges).toEqual([
      { from: 0, to: 300 },
      { from: 300, to: 600 },
      { from: 600, to: 900 },
      { from: 900, to: 1000 },
    ]);
  });

  it('rejects bad input with the field named', () => {
    expect(() => checkInput({ limit: 'x' })).toThrow(/input.limit/);
    expect(() => checkInput({ limit: 10, chunk: 0 })).toThrow(/input.chunk/);
  });

  it('declares its input with zod, which submissions and the ventilator check through Standard Schema', async () => {
    expect(await parseInput(pipeline, { limit: 100 })).toEqual({ limit: 100, chunk: 50_000 });
    await expect(parseInput(pipeline, { limit: '5e6' })).rejects.toThrow(
      'primes rejects the input: input.limit: Invalid input: expected number, received string',
    );
    await expect(parseInput(pipeline, { limit: 1, chunk: 2.5 })).rejects.toThrow(
      /^primes rejects the input: input\.limit: Too small: .*; input\.chunk: Invalid input: expected int, received number$/,
    );
    await expect(parseInput(pipeline, { limit: 100, chunks: 10 })).rejects.toThrow('primes rejects the input: input: Unrecognized key: "chunks"');
  });
});
