#!/usr/bin/env node
// usage: node bench/batches/head-of-line.mjs [--big-jobs 1000000] [--every-ms 10] [--small 500] [--workers 2] [--json FILE] [--profile DIR]
// Head of line, durable: a batch of --big-jobs echo jobs runs alone, then again while one-job
// batches are submitted every --every-ms. Reports each small batch's time from submit to its
// BatchCompleted event (p50, p99, max), and the big batch's throughput with the small ones beside
// it against alone. Targets: p99 <= 100 ms, and the big batch keeps >= 90% of its throughput.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { percentile, stopOnSignals } from '../baselines/common.mjs';
import { durableStack, wholeNumbers } from './durable-stack.mjs';

const { values: args } = parseArgs({
  options: {
    'big-jobs': { type: 'string', default: '1000000' },
    'every-ms': { type: 'string', default: '10' },
    small: { type: 'string', default: '500' },
    workers: { type: 'string', default: '2' },
    json: { type: 'string' },
    profile: { type: 'string' },
  },
});
const [bigJobs, everyMs, small, workers] = wholeNumbers(args, ['big-jobs', 'every-ms', 'small', 'workers']);

const d = await durableStack({ workers, profile: args.profile });
// bench/run.mjs stops a run that takes too long with SIGTERM.
const stop = stopOnSignals(() => d.stop());
try {
  /** Runs the big batch; with `beside`, submits one-job batches every --every-ms while it runs. */
  const runBig = async (id, beside) => {
    const done = d.events.completed(id, 900_000);
    const started = performance.now();
    await d.client.submit(d.pipeline, { jobs: bigJobs }, { batchId: id });
    const latencies = beside ? await smallBatches(id) : [];
    const summary = await done;
    return { seconds: (performance.now() - started) / 1000, jobsPerSecond: summary.jobsPerSecond, latencies };
  };
  const smallBatches = async (bigId) => {
    // Once the big batch is under way: its first results are in.
    while (((await d.client.status(d.pipeline.name, bigId))?.done ?? 0) < 1000) await new Promise((resolve) => setTimeout(resolve, 20));
    const answers = [];
    for (let i = 0; i < small; i++) {
      const id = `${bigId}-small-${i}`;
      const submittedAt = performance.now();
      const done = d.events.completed(id, 120_000);
      answers.push(d.client.submit(d.pipeline, { jobs: 1 }, { batchId: id }).then(() => done.then(() => performance.now() - submittedAt)));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    return (await Promise.all(answers)).sort((a, b) => a - b);
  };
  const alone = await runBig('big-alone', false);
  const beside = await runBig('big-beside', true);
  const l = beside.latencies;
  const row = {
    system: 'jobpipe-head-of-line',
    bigJobs,
    smallBatches: l.length,
    everyMs,
    p50Ms: percentile(l, 0.5),
    p99Ms: percentile(l, 0.99),
    maxMs: l.at(-1),
    bigAloneJobsPerSecond: Math.round(alone.jobsPerSecond),
    bigBesideJobsPerSecond: Math.round(beside.jobsPerSecond),
    bigKept: beside.jobsPerSecond / alone.jobsPerSecond,
  };
  process.stdout.write(`${JSON.stringify(row)}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(row, null, 2)}\n`);
} finally {
  await stop();
}
