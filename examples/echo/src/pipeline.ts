/**
 * A configurable no-op pipeline for benchmarks and tests: `jobs` payloads of about `payloadBytes`
 * bytes, each handled in `workMs` (slept, or spun on the CPU with `spin: true`).
 *
 * Input: `{ "jobs": 100000, "payloadBytes": 100, "workMs": 0, "spin": false, "failEvery": 0, "ratePerSecond": 0, "warmupJobs": 10000 }`.
 * `failEvery: k` makes every k-th job throw, to exercise failed results.
 * `ratePerSecond: r` paces the split at r jobs/s (an offered load) and stamps each job after the
 * first `warmupJobs` (default: a tenth of `jobs`) with its creation time; the summary then has the
 * end-to-end latency (creation to recorded) p50 and p99 of those, and the same split in two at the
 * moment a worker starts the job: `toWorker` and `toRecorded`, each with its min and max (a
 * benchmark refuses a negative one), and the p50 of each tenth of the measured jobs
 * (`p50ByTenth`). The warm-up leaves out the time when fresh processes are still slow (see
 * docs/benchmarks.md).
 * Unpaced, a `warmupJobs` given in the input marks job number `warmupJobs`; the summary then has
 * the throughput after its result came (`throughput`: the results collected after it, and the
 * seconds they took) and how many came before it (`throughput.warmup`) in how long from the first
 * job's creation (`throughput.warmupSeconds`), so a benchmark can leave out the time when fresh
 * processes are slow from a run as fast as it goes.
 * Every stamp (creation in the ventilator, start in a worker, arrival in the sink) is read from
 * CLOCK_MONOTONIC (`process.hrtime`), the one clock all processes of a Linux host share: the
 * latencies hold only when every role runs on one host, as in the benchmarks. Each process's
 * `performance.timeOrigin + performance.now()` is its own reading of the wall clock at its start,
 * and processes started at different moments disagreed by milliseconds (negative latencies).
 * The env var JOBPIPE_BENCH_SKEW_MS shifts the creation stamps by that much, to check that a
 * benchmark refuses latencies no clock could give.
 * The env var JOBPIPE_ECHO_SLOWDOWN multiplies `workMs` in one worker process: how tests and the
 * load-balance benchmark make one worker slower than the others.
 */
import * as v from 'valibot';
import { definePipeline } from '@jobpipe/pipeline';

const atLeastZero = v.pipe(v.number(), v.minValue(0));
const countFromZero = v.pipe(v.number(), v.integer(), v.minValue(0));

/**
 * The input: submissions and the ventilator check batches against it. valibot rather than zod
 * (which the primes example uses): this is the benchmark pipeline, and valibot adds 3 MB to each
 * process where zod adds 15 MB. Both implement Standard Schema.
 */
export const echoInput = v.strictObject({
  jobs: countFromZero,
  payloadBytes: v.optional(atLeastZero, 100),
  workMs: v.optional(atLeastZero, 0),
  spin: v.optional(v.boolean(), false),
  failEvery: v.optional(countFromZero, 0),
  ratePerSecond: v.optional(atLeastZero, 0),
  warmupJobs: v.optional(countFromZero),
});
interface EchoPayload {
  i: number;
  workMs: number;
  spin: boolean;
  fail: boolean;
  pad: string;
  /** Creation time (ms on the host's monotonic clock, see `clockMs`), only when paced and past the warm-up. */
  t?: number;
  /** The first job after an unpaced warm-up: the throughput is measured from its result on. */
  mark?: true;
  /** Job 0 of an unpaced run with a warm-up: its creation time, where the warm-up starts. */
  first?: number;
}
/** Paced jobs carry their creation time `t` and when a worker started them, `w` (see `clockMs`). */
type EchoResult = number | { i: number; t: number; w: number } | { i: number; mark: true } | { i: number; first: number };
interface EchoState {
  count: number;
  sum: number;
  /** Latency samples of the jobs past the warm-up: `samples` of them, in ms. */
  samples: number;
  /** Creation to recorded. Typed arrays: an array per sample made the sink's scavenges slow. */
  total: Float64Array;
  /** Creation to a worker. */
  toWorker: Float64Array;
  /** The job's index. */
  job: Float64Array;
  /** When the marked job's result came (see `mark`), and the results collected before it. */
  markedAt?: number;
  beforeMark?: number;
  /** When job 0 was created (see `first`). */
  firstAt?: number;
  /** When the last result came, once the marked one had. */
  lastAt: number;
}

const slowdown = Number(process.env.JOBPIPE_ECHO_SLOWDOWN ?? 1) || 1;
/**
 * Milliseconds on CLOCK_MONOTONIC, sub-millisecond: the same clock in every process (and worker
 * thread) of a Linux host, so stamps taken in the ventilator, a worker and the sink compare.
 */
export const clockMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const now = clockMs;
/** Shifts the creation stamps (tests of a benchmark's clock check only). */
const skewMs = Number(process.env.JOBPIPE_BENCH_SKEW_MS ?? 0) || 0;
/** Latency samples kept for the summary's percentiles. */
const MAX_SAMPLES = 1_000_000;
const DEFAULT_WARMUP_FRACTION = 0.1;

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Twice the room, the samples kept. */
function grown(values: Float64Array): Float64Array {
  const bigger = new Float64Array(Math.min(MAX_SAMPLES, values.length * 2));
  bigger.set(values);
  return bigger;
}

/**
 * The p50 of each tenth of the measured jobs, in job order (and so in time: the split is paced).
 * A falling line is a system still warming up; a flat one, its steady state.
 */
function p50ByTenth(total: Float64Array, job: Float64Array): number[] {
  let first = Infinity;
  let last = -Infinity;
  for (const i of job) {
    first = Math.min(first, i);
    last = Math.max(last, i);
  }
  const tenths: number[][] = Array.from({ length: 10 }, () => []);
  const span = last - first + 1;
  for (let n = 0; n < job.length; n++) tenths[Math.floor(((job[n]! - first) * 10) / span)]!.push(total[n]!);
  return tenths.map((values) => percentile(Float64Array.from(values).sort(), 0.5));
}

async function* paced(total: number, ratePerSecond: number, warmupJobs: number, make: (i: number, t?: number) => EchoPayload): AsyncGenerator<EchoPayload> {
  const start = now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / ratePerSecond;
    const wait = due - now();
    // Sleep only when at least a millisecond ahead; jobs due now go out in a burst.
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    yield make(i, i >= warmupJobs ? now() + skewMs : undefined);
  }
}
// The fixed fields of a payload take about 50 bytes of JSON; the pad makes up the rest.
const FIXED_BYTES = 50;

export default definePipeline({
  name: 'echo',
  input: echoInput,
  // The input arrives checked against echoInput, with its defaults (submit and the ventilator).
  split: (input: v.InferOutput<typeof echoInput>): Iterable<EchoPayload> | AsyncIterable<EchoPayload> => {
    const { jobs, payloadBytes, workMs, spin, failEvery, ratePerSecond } = input;
    const warmupJobs = input.warmupJobs ?? Math.floor(jobs * DEFAULT_WARMUP_FRACTION);
    const pad = 'x'.repeat(Math.max(0, payloadBytes - FIXED_BYTES));
    // One object per payload, with `t` only when paced (a spread to add it made a second one).
    const make = (i: number, t?: number): EchoPayload => {
      const payload: EchoPayload = { i, workMs, spin, fail: failEvery > 0 && (i + 1) % failEvery === 0, pad };
      if (t !== undefined) payload.t = t;
      return payload;
    };
    if (ratePerSecond > 0) return paced(jobs, ratePerSecond, warmupJobs, make);
    const mark = input.warmupJobs;
    return (function* () {
      for (let i = 0; i < jobs; i++) {
        const payload = make(i);
        if (i === mark) payload.mark = true;
        else if (i === 0 && mark !== undefined) payload.first = now() + skewMs;
        yield payload;
      }
    })();
  },
  work: (payload: EchoPayload): EchoResult | Promise<EchoResult> => {
    if (payload.fail) throw new Error(`job ${payload.i} fails on purpose (failEvery)`);
    const result: EchoResult =
      payload.t !== undefined
        ? { i: payload.i, t: payload.t, w: now() }
        : payload.mark
          ? { i: payload.i, mark: true }
          : payload.first !== undefined
            ? { i: payload.i, first: payload.first }
            : payload.i;
    const ms = payload.workMs * slowdown;
    if (ms <= 0) return result;
    if (payload.spin) {
      const until = performance.now() + ms;
      while (performance.now() < until);
      return result;
    }
    return new Promise<EchoResult>((resolve) => setTimeout(() => resolve(result), ms));
  },
  init: (): EchoState => ({
    count: 0,
    sum: 0,
    samples: 0,
    total: new Float64Array(4096),
    toWorker: new Float64Array(4096),
    job: new Float64Array(4096),
    lastAt: 0,
  }),
  collect: (result: EchoResult, ctx) => {
    const state = ctx.state;
    state.count += 1;
    // The clock is read per result only once it is timing the throughput.
    if (state.markedAt !== undefined) state.lastAt = now();
    if (typeof result === 'number') {
      state.sum += result;
      return;
    }
    state.sum += result.i;
    if ('mark' in result) {
      state.markedAt = state.lastAt = now();
      state.beforeMark = state.count - 1;
      return;
    }
    if ('first' in result) {
      state.firstAt = result.first;
      return;
    }
    if (state.samples === MAX_SAMPLES) return;
    if (state.samples === state.total.length) {
      state.total = grown(state.total);
      state.toWorker = grown(state.toWorker);
      state.job = grown(state.job);
    }
    state.job[state.samples] = result.i;
    state.total[state.samples] = now() - result.t;
    state.toWorker[state.samples++] = result.w - result.t;
  },
  summarize: (state, totals) => {
    const answer = { count: state.count, sum: state.sum, failed: totals.failed };
    if (state.markedAt !== undefined) {
      const warmupSeconds = state.firstAt === undefined ? undefined : (state.markedAt - state.firstAt) / 1000;
      return {
        ...answer,
        throughput: {
          jobs: state.count - state.beforeMark! - 1,
          seconds: (state.lastAt - state.markedAt) / 1000,
          warmup: state.beforeMark!,
          ...(warmupSeconds === undefined ? {} : { warmupSeconds }),
        },
      };
    }
    if (state.samples === 0) return answer;
    const total = state.total.subarray(0, state.samples);
    const toWorker = state.toWorker.subarray(0, state.samples);
    // Typed arrays sort by value.
    const spread = (values: Float64Array) => {
      const sorted = values.slice().sort();
      return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), min: sorted[0]!, max: sorted[sorted.length - 1]! };
    };
    return {
      ...answer,
      latencyMs: {
        ...spread(total),
        samples: state.samples,
        toWorker: spread(toWorker),
        toRecorded: spread(total.map((value, i) => value - toWorker[i]!)),
        p50ByTenth: p50ByTenth(total, state.job.subarray(0, state.samples)),
      },
    };
  },
});
