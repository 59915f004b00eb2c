#!/usr/bin/env node
// usage: node bench/pipelines/two-pipelines.mjs [--jobs 100000] [--workers 2] [--rounds 3] [--python] [--json FILE]
// Several pipelines on one ventilator and one sink, durable (a redis-server of its own, AOF on),
// each setup in turn, --rounds times:
//   one          the echo pipeline alone, served by --workers TypeScript workers
//   two          echo and echo-b (the same work under another name) on one ventilator and sink,
//                a pool of --workers / 2 workers each; their --jobs split half and half
//   python       with --python: echo alone, served by --workers Python workers (workers/python)
// Each run sends a warm-up batch of a tenth of --jobs per pipeline first (fresh processes are
// slow), then the timed batches, submitted together; jobs/s is --jobs over the time from the
// submissions to the last BatchCompleted. The figure of `two` is the sum over both pipelines.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JobpipeClient } from '@jobpipe/intake';
import { BatchEvents, pollUntil, RedisServer, Stack } from '@jobpipe/launcher';
import { connectRedis } from '@jobpipe/ledger';
import { metricValue } from '@jobpipe/observability';
import { loadPipeline } from '@jobpipe/pipeline';
import { stopOnSignals } from '../baselines/common.mjs';
import { wholeNumbers } from '../batches/durable-stack.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const echoPath = resolve(root, 'examples/echo/dist/pipeline.js');
const echoBPath = resolve(root, 'bench/pipelines/echo-b.mjs');
const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    workers: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    python: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const [jobs, workers, rounds] = wholeNumbers(args, ['jobs', 'workers', 'rounds']);
if (workers < 2) {
  process.stderr.write('--workers must be at least 2: the two-pipeline setup runs a pool of half of them for each\n');
  process.exit(2);
}
const setups = ['one', 'two', ...(args.python ? ['python'] : [])];
const say = (line) => process.stderr.write(`${line}\n`);

const redis = await RedisServer.start({ appendOnly: true });
let current;
const stop = stopOnSignals(async () => {
  await current?.();
  await redis.stop();
});
const runs = [];
try {
  for (let round = 1; round <= rounds; round++) {
    for (const setup of setups) {
      const figures = await run(setup, `r${round}`);
      say(`${setup} round ${round}: ${Math.round(figures.jobsPerSecond)} jobs/s`);
      runs.push({ setup, round, ...figures });
    }
  }
} finally {
  await stop();
}
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const medianOf = (setup) => median(runs.filter((r) => r.setup === setup).map((r) => r.jobsPerSecond));
const figures = {
  jobs,
  workers,
  rounds,
  runs,
  one: medianOf('one'),
  two: medianOf('two'),
  ...(args.python ? { python: medianOf('python') } : {}),
};
figures.twoOverOne = figures.two / figures.one;
say(JSON.stringify(figures));
if (args.json) writeFileSync(args.json, `${JSON.stringify(figures)}\n`);

/** One run of a setup on a stack of its own (a fresh key prefix on the shared Redis). */
async function run(setup, tag) {
  const prefix = `bench-pipelines-${tag}-${setup}`;
  const served = setup === 'two' ? [echoPath, echoBPath] : [echoPath];
  const stack = await Stack.start({
    command: [process.execPath, resolve(root, 'cli/bin/jobpipe.js')],
    pipeline: served.join(','),
    workers: 0,
    env: { JOBPIPE_REDIS_URL: redis.url, JOBPIPE_REDIS_PREFIX: prefix, JOBPIPE_LOG_LEVEL: 'warn' },
  });
  const pythons = [];
  const connection = connectRedis(redis.url);
  const client = new JobpipeClient(connection, prefix);
  const events = new BatchEvents(stack.endpoints.eventsConnect);
  current = async () => {
    for (const child of pythons) child.kill('SIGTERM');
    await events.close();
    await client.close();
    connection.disconnect();
    await stack.stop();
  };
  try {
    const pools = setup === 'two' ? [echoPath, echoBPath] : [echoPath];
    for (let i = 0; i < workers; i++) {
      const pipeline = pools[i % pools.length];
      if (setup === 'python') pythons.push(startPythonWorker(stack, `python-${i + 1}`));
      else await stack.addWorker({ JOBPIPE_PIPELINE: pipeline });
    }
    await Promise.all(stack.workers.map((worker) => worker.ready));
    // Every worker has a session at the ventilator before the clock starts.
    const names = await Promise.all(served.map(async (path) => (await loadPipeline(path)).name));
    const perPipeline = workers / pools.length;
    await pollUntil(`${workers} workers joined`, 30_000, async () => {
      const text = await (await fetch(stack.ventilator.url('/metrics'))).text();
      return names.every((name) => (metricValue(text, 'jobpipe_workers_connected', { pipeline: name }) ?? 0) >= Math.floor(perPipeline));
    });
    const pipelines = await Promise.all(served.map((path) => loadPipeline(path)));
    const batch = async (label, total) => {
      const share = Math.floor(total / pipelines.length);
      const ids = pipelines.map((pipeline) => `${tag}-${label}-${pipeline.name}`);
      const done = ids.map((id) => events.completed(id, 600_000));
      const started = performance.now();
      await Promise.all(pipelines.map((pipeline, i) => client.submit(pipeline, { jobs: share }, { batchId: ids[i] })));
      const summaries = await Promise.all(done);
      const seconds = (performance.now() - started) / 1000;
      const count = summaries.reduce((sum, summary) => sum + summary.jobs, 0);
      const duplicates = summaries.reduce((sum, summary) => sum + summary.duplicates, 0);
      if (count !== share * pipelines.length || summaries.some((summary) => summary.failed > 0)) throw new Error(`${setup}: ${label} batches incomplete`);
      return { jobs: count, seconds, jobsPerSecond: count / seconds, duplicates };
    };
    await batch('warmup', Math.max(pipelines.length, Math.floor(jobs / 10)));
    return await batch('timed', jobs);
  } finally {
    await current();
    current = undefined;
  }
}

/** A Python worker (workers/python) serving echo, on the stack's endpoints. */
function startPythonWorker(stack, id) {
  const python = process.env.JOBPIPE_PYTHON ?? '/usr/bin/python3';
  const child = spawn(python, ['-m', 'jobpipe_worker', 'jobpipe_worker.examples.echo'], {
    env: {
      ...process.env,
      PYTHONPATH: resolve(root, 'workers/python'),
      JOBPIPE_JOBS_CONNECT: stack.endpoints.jobsConnect,
      JOBPIPE_RESULTS_CONNECT: stack.endpoints.resultsConnect,
      JOBPIPE_WORKER_ID: id,
      JOBPIPE_METRICS_PORT: '0',
      JOBPIPE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}
