/**
 * The chaos harness's second pipeline (`--pipelines 2`): echo's shape with another answer, so that a
 * job run by the wrong pipeline's handler, or folded into the wrong batch, shows.
 *
 * Input: `{ "jobs": N, "payloadBytes": 100, "workMs": 0 }`. Job i answers `tallyValue(i)` = 3i + 1
 * after `workMs` of sleep; a batch's answer is `{ count, sum, failed }`, which for N jobs must be
 * `{ count: N, sum: tallySum(N), failed: 0 }` with tallySum(N) = N(3N - 1) / 2.
 */
import { definePipeline } from '@jobpipe/pipeline';

/** What job i of a tally batch answers. */
export const tallyValue = (i) => 3 * i + 1;
/** The sum of tallyValue(i) over i = 0..jobs-1: a tally batch's answer. */
export const tallySum = (jobs) => (jobs * (3 * jobs - 1)) / 2;
// The fixed fields of a payload take about 30 bytes of JSON; the pad makes up the rest.
const FIXED_BYTES = 30;

function checkInput(input) {
  if (typeof input !== 'object' || input === null) throw new TypeError('input must be an object');
  const { jobs, payloadBytes = 100, workMs = 0 } = input;
  if (!Number.isInteger(jobs) || jobs < 0) throw new TypeError(`input.jobs must be an integer >= 0, got ${JSON.stringify(jobs)}`);
  if (typeof payloadBytes !== 'number' || !(payloadBytes >= 0))
    throw new TypeError(`input.payloadBytes must be a number >= 0, got ${JSON.stringify(payloadBytes)}`);
  if (typeof workMs !== 'number' || !(workMs >= 0)) throw new TypeError(`input.workMs must be a number >= 0, got ${JSON.stringify(workMs)}`);
  return { jobs, payloadBytes, workMs };
}

export default definePipeline({
  name: 'tally',
  validate: checkInput,
  split: function* (input) {
    const { jobs, payloadBytes, workMs } = checkInput(input);
    const pad = 'x'.repeat(Math.max(0, payloadBytes - FIXED_BYTES));
    for (let i = 0; i < jobs; i++) yield { i, workMs, pad };
  },
  work: (payload) => {
    const value = tallyValue(payload.i);
    if (!(payload.workMs > 0)) return value;
    return new Promise((resolve) => setTimeout(() => resolve(value), payload.workMs));
  },
  init: () => ({ count: 0, sum: 0 }),
  collect: (result, ctx) => {
    ctx.state.count += 1;
    ctx.state.sum += result;
  },
  summarize: (state, totals) => ({ count: state.count, sum: state.sum, failed: totals.failed }),
});
