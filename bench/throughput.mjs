#!/usr/bin/env node
// usage: node bench/throughput.mjs [--jobs 100000] [--workers 2] [--payload-bytes 100] [--rounds 1] [--durable] [--curve] [--profile DIR]
// --curve runs every socket with CURVE (keys made for the run), to measure what encryption costs.
// --profile writes a V8 CPU profile of every process into DIR (node --cpu-prof).
// Echo pipeline, persistence off (or on, with --durable and a redis-server of its own): jobs/s end to end (ventilator -> workers -> sink), each role its own process.
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchEvents, RedisServer, runKeys, Stack } from '@jobpipe/launcher';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    workers: { type: 'string', default: '2' },
    'payload-bytes': { type: 'string', default: '100' },
    rounds: { type: 'string', default: '1' },
    durable: { type: 'boolean', default: false },
    curve: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const jobs = Number(values.jobs);
const redis = values.durable ? await RedisServer.start() : undefined;
const keys = values.curve ? runKeys() : undefined;
for (let round = 1; round <= Number(values.rounds); round++) {
  const stack = await Stack.start({
    command: [process.execPath, ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : []), resolve(root, 'cli/dist/main.js')],
    pipeline: resolve(root, 'examples/echo/dist/pipeline.js'),
    workers: Number(values.workers),
    env: { JOBPIPE_LOG_LEVEL: 'warn', ...keys?.env, ...(redis ? { JOBPIPE_REDIS_URL: redis.url } : {}) },
    startVentilator: false,
  });
  const events = new BatchEvents(stack.endpoints.eventsConnect, undefined, keys?.client);
  await new Promise((r) => setTimeout(r, 200));
  const batch = `bench-${round}`;
  const started = Date.now();
  await stack.startVentilator({ JOBPIPE_INPUT: JSON.stringify({ jobs, payloadBytes: Number(values['payload-bytes']) }), JOBPIPE_BATCH_ID: batch });
  const summary = await events.completed(batch, 600_000);
  const seconds = (Date.now() - started) / 1000;
  console.log(
    JSON.stringify({
      round,
      durable: Boolean(redis),
      curve: values.curve,
      jobs: summary.jobs,
      failed: summary.failed,
      duplicates: summary.duplicates,
      sinkJobsPerSecond: Math.round(summary.jobsPerSecond),
      wallSecondsIncludingVentilatorStart: seconds,
      perWorker: summary.perWorker,
    }),
  );
  await events.close();
  await stack.stop();
}
await redis?.stop();
