/**
 * A configurable no-op pipeline for benchmarks and tests: `jobs` payloads of about `payloadBytes`
 * bytes, each handled in `workMs` (slept, or spun on the CPU with `spin: true`).
 *
 * Input: `{ "jobs": 100000, "payloadBytes": 100, "workMs": 0, "spin": false, "failEvery": 0 }`.
 * `failEvery: k` makes every k-th job throw, to exercise failed results.
 * The env var JOBPIPE_ECHO_SLOWDOWN multiplies `workMs` in one worker process: how tests and the
 * load-balance benchmark make one worker slower than the others.
 */
import { definePipeline } from '@jobpipe/pipeline';

export interface EchoInput {
  jobs: number;
  payloadBytes?: number;
  workMs?: number;
  spin?: boolean;
  failEvery?: number;
}
interface EchoPayload {
  i: number;
  workMs: number;
  spin: boolean;
  fail: boolean;
  pad: string;
}

export function checkInput(input: unknown): Required<EchoInput> {
  const { jobs, payloadBytes = 100, workMs = 0, spin = false, failEvery = 0 } = (input ?? {}) as Partial<EchoInput>;
  const count = (name: string, value: unknown, min: number) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new TypeError(`echo: input.${name} must be a number >= ${min}, got ${JSON.stringify(value)}`);
  };
  count('jobs', jobs, 0);
  count('payloadBytes', payloadBytes, 0);
  count('workMs', workMs, 0);
  count('failEvery', failEvery, 0);
  if (typeof spin !== 'boolean') throw new TypeError('echo: input.spin must be a boolean');
  return { jobs: Math.floor(jobs!), payloadBytes, workMs, spin, failEvery: Math.floor(failEvery) };
}

const slowdown = Number(process.env.JOBPIPE_ECHO_SLOWDOWN ?? 1) || 1;
// The fixed fields of a payload take about 50 bytes of JSON; the pad makes up the rest.
const FIXED_BYTES = 50;

export default definePipeline({
  name: 'echo',
  split: function* (input: EchoInput): Generator<EchoPayload> {
    const { jobs, payloadBytes, workMs, spin, failEvery } = checkInput(input);
    const pad = 'x'.repeat(Math.max(0, payloadBytes - FIXED_BYTES));
    for (let i = 0; i < jobs; i++) yield { i, workMs, spin, fail: failEvery > 0 && (i + 1) % failEvery === 0, pad };
  },
  work: (payload: EchoPayload) => {
    if (payload.fail) throw new Error(`job ${payload.i} fails on purpose (failEvery)`);
    const ms = payload.workMs * slowdown;
    if (ms <= 0) return payload.i;
    if (payload.spin) {
      const until = performance.now() + ms;
      while (performance.now() < until);
      return payload.i;
    }
    return new Promise<number>((resolve) => setTimeout(() => resolve(payload.i), ms));
  },
  init: () => ({ count: 0, sum: 0 }),
  collect: (i: number, ctx) => {
    ctx.state.count += 1;
    ctx.state.sum += i;
  },
  summarize: (state, totals) => ({ count: state.count, sum: state.sum, failed: totals.failed }),
});
