/**
 * Counts the primes below `limit`, split into ranges of `chunk` numbers. CPU-bound, so it runs on
 * a worker's thread pool; its answer can be checked against a single-process sieve.
 *
 * Input: `{ "limit": 5000000, "chunk": 50000 }`.
 */
import { z } from 'zod';
import { definePipeline, formatPath } from '@jobpipe/pipeline';
import { countPrimesInRange } from './primes.js';

const MAX_LIMIT = 1e12;

/** The input: submissions and the ventilator check batches against it (zod implements Standard Schema). */
export const primesInput = z.strictObject({
  limit: z.number().int().min(2).max(MAX_LIMIT),
  chunk: z.number().int().min(1).default(50_000),
});
interface Range {
  from: number;
  to: number;
}

/** The input with its defaults; throws a TypeError naming each bad field. */
export function checkInput(input: unknown): z.output<typeof primesInput> {
  const result = primesInput.safeParse(input);
  if (!result.success) throw new TypeError(`primes: ${result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; ')}`);
  return result.data;
}

export default definePipeline({
  name: 'primes',
  input: primesInput,
  worker: { threads: 'auto' },
  // The input arrives checked against primesInput, with its defaults (submit and the ventilator).
  split: function* ({ limit, chunk }: z.output<typeof primesInput>): Generator<Range> {
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
