/**
 * Counts the primes below `limit`, split into ranges of `chunk` numbers. CPU-bound, so it runs on
 * a worker's thread pool; its answer can be checked against a single-process sieve.
 *
 * Input: `{ "limit": 5000000, "chunk": 50000 }`.
 */
import { definePipeline } from '@jobpipe/pipeline';
import { countPrimesInRange } from './primes.js';

export interface PrimesInput {
  limit: number;
  chunk?: number;
}
interface Range {
  from: number;
  to: number;
}

const MAX_LIMIT = 1e12;

export function checkInput(input: unknown): Required<PrimesInput> {
  const { limit, chunk = 50_000 } = (input ?? {}) as Partial<PrimesInput>;
  if (!Number.isSafeInteger(limit) || limit! < 2 || limit! > MAX_LIMIT) throw new TypeError(`primes: input.limit must be an integer in 2..${MAX_LIMIT}, got ${JSON.stringify(limit)}`);
  if (!Number.isSafeInteger(chunk) || chunk < 1) throw new TypeError(`primes: input.chunk must be a positive integer, got ${JSON.stringify(chunk)}`);
  return { limit: limit!, chunk };
}

export default definePipeline({
  name: 'primes',
  worker: { threads: 'auto' },
  split: function* (input: PrimesInput): Generator<Range> {
    const { limit, chunk } = checkInput(input);
    for (let from = 0; from < limit; from += chunk) yield { from, to: Math.min(limit, from + chunk) };
  },
  work: (range: Range) => countPrimesInRange(range.from, range.to),
  init: () => ({ primes: 0, ranges: 0 }),
  collect: (count: number, ctx) => {
    ctx.state.primes += count;
    ctx.state.ranges += 1;
  },
  summarize: (state) => ({ primes: state.primes, ranges: state.ranges }),
});
