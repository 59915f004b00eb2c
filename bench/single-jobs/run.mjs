#!/usr/bin/env node
// usage: node bench/single-jobs/run.mjs [--jobs 100000] [--producers 8] [--window 64] [--workers 2]
//          [--systems jobpipe,bullmq] [--json FILE] [--profile DIR]
// Single jobs added one call each by --producers concurrent producer processes, each with up to
// --window calls under way, and every result awaited by its id: jobpipe durable (JobpipeClient.add
// and waitForJob, with a ventilator, a sink and --workers workers) against BullMQ in the same
// shape (queue.add one call each, job.waitUntilFinished, --workers workers of concurrency 50).
// Each system gets a redis-server of its own. jobs/s: from the first add to the last result.
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopOnSignals } from '../baselines/common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    producers: { type: 'string', default: '8' },
    window: { type: 'string', default: '64' },
    workers: { type: 'string', default: '2' },
    systems: { type: 'string', default: 'jobpipe,bullmq' },
    json: { type: 'string' },
    profile: { type: 'string' },
    role: { type: 'string' },
    url: { type: 'string' },
    prefix: { type: 'string' },
    count: { type: 'string' },
    queue: { type: 'string' },
  },
});
const wholeFrom = (name, min) => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`--${name} must be a whole number >= ${min}\n`);
    process.exit(2);
  }
  return value;
};

if (args.role) await child(args.role);
else await coordinator();

async function coordinator() {
  const jobs = wholeFrom('jobs', 1);
  const producers = wholeFrom('producers', 1);
  const workers = wholeFrom('workers', 1);
  wholeFrom('window', 1);
  const { RedisServer, Stack } = await import('@jobpipe/launcher');
  const rows = [];
  for (const system of args.systems.split(',')) {
    process.stderr.write(`single jobs: ${system}\n`);
    const redis = await RedisServer.start({ appendOnly: system === 'jobpipe' });
    const children = [];
    let stack;
    // bench/run.mjs stops a run that takes too long with SIGTERM.
    const stop = stopOnSignals(async () => {
      for (const c of children) c.proc.kill();
      await stack?.stop();
      await redis.stop();
    });
    try {
      const common = { url: redis.url, prefix: `bench-${process.pid}`, queue: `single-${process.pid}` };
      if (system === 'jobpipe') {
        stack = await Stack.start({
          // --profile: each role writes a V8 CPU profile there when it stops (bench/profile-summary.mjs reads them).
          command: [process.execPath, ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(args.profile)}`] : []), resolve(root, 'cli/bin/jobpipe.js')],
          pipeline: resolve(here, 'pipeline.mjs'),
          workers,
          env: { JOBPIPE_REDIS_URL: redis.url, JOBPIPE_REDIS_PREFIX: common.prefix, JOBPIPE_LOG_LEVEL: 'warn' },
        });
      } else if (system === 'bullmq') {
        for (let i = 0; i < workers; i++) children.push(await start('bullmq-worker', common));
      } else throw new Error(`unknown system ${system}`);
      const per = Math.ceil(jobs / producers);
      for (let i = 0; i < producers; i++) children.push(await start(`${system}-producer`, { ...common, count: Math.min(per, jobs - i * per) }));
      const producing = children.filter((c) => c.role.endsWith('producer'));
      const started = performance.now();
      for (const c of producing) c.proc.send('go');
      const done = await Promise.all(producing.map((c) => c.finished));
      const seconds = (performance.now() - started) / 1000;
      const results = done.reduce((sum, d) => sum + d.results, 0);
      if (results !== jobs) throw new Error(`${system}: ${results} results of ${jobs}`);
      const row = { system: `${system}-single-jobs`, jobs, producers, window: Number(args.window), seconds, jobsPerSecond: Math.round(jobs / seconds) };
      rows.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    } finally {
      await stop();
    }
  }
  const [ours, theirs] = ['jobpipe-single-jobs', 'bullmq-single-jobs'].map((s) => rows.find((r) => r.system === s));
  if (ours && theirs) process.stdout.write(`jobpipe / bullmq: ${(ours.jobsPerSecond / theirs.jobsPerSecond).toFixed(2)}x\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(rows, null, 2)}\n`);
}

/** Forks this script in a role; resolves once it says it is ready. */
function start(role, options) {
  const argv = ['--role', role, ...Object.entries(options).flatMap(([k, v]) => [`--${k}`, String(v)]), '--window', args.window];
  const proc = fork(fileURLToPath(import.meta.url), argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let finish;
  const finished = new Promise((resolve, reject) => {
    finish = resolve;
    proc.on('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
  finished.catch(() => {});
  return new Promise((resolve, reject) => {
    proc.on('message', (message) => {
      if (message.type === 'ready') resolve({ role, proc, finished });
      if (message.type === 'done') finish(message);
    });
    proc.on('exit', (code) => reject(new Error(`${role} exited with ${code} before it was ready`)));
  });
}

async function child(role) {
  const window = wholeFrom('window', 1);
  process.on('disconnect', () => process.exit(0));
  if (role === 'bullmq-worker') {
    const { Worker } = await import('bullmq');
    const worker = new Worker(args.queue, async (job) => job.data, { connection: connectionOf(args.url), concurrency: 50 });
    await worker.waitUntilReady();
    return process.send({ type: 'ready' });
  }
  const count = wholeFrom('count', 0);
  let runOne;
  if (role === 'jobpipe-producer') {
    const { JobpipeClient } = await import('@jobpipe/intake');
    const { connectRedis } = await import('@jobpipe/ledger');
    const client = new JobpipeClient(connectRedis(args.url), args.prefix);
    runOne = async (i) => {
      const id = await client.add('single', { i });
      const job = await client.waitForJob(id);
      if (job.state !== 'done' || job.value.i !== i) throw new Error(`job ${id}: ${JSON.stringify(job)}`);
    };
  } else if (role === 'bullmq-producer') {
    const { Queue, QueueEvents } = await import('bullmq');
    const queue = new Queue(args.queue, { connection: connectionOf(args.url) });
    const events = new QueueEvents(args.queue, { connection: connectionOf(args.url) });
    // Every job under way listens for its end: as many listeners as the window.
    events.setMaxListeners(0);
    queue.setMaxListeners(0);
    await events.waitUntilReady();
    runOne = async (i) => {
      // Kept when completed: waitUntilFinished reads a finished job back (removed, it fails).
      const job = await queue.add('j', { i });
      const value = await job.waitUntilFinished(events);
      if (value.i !== i) throw new Error(`job ${job.id}: ${JSON.stringify(value)}`);
    };
  } else throw new Error(`unknown role ${role}`);
  process.send({ type: 'ready' });
  await new Promise((resolve) => process.once('message', resolve));
  let next = 0;
  let results = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await runOne(i);
      results++;
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  process.send({ type: 'done', results });
}

function connectionOf(url) {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port), maxRetriesPerRequest: null };
}
