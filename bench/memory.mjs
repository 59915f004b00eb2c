#!/usr/bin/env node
// usage: node bench/memory.mjs [--jobs 1000000] [--payload-bytes 100] [--workers 2] [--memory]
// Runs one big echo batch (durable by default, with a redis-server of its own) and reports the peak
// RSS (VmHWM) of every role: the split is streamed, the ledger is in Redis, and what each role
// holds is bounded in jobs and in bytes (JOBPIPE_MAX_IN_FLIGHT_BYTES, JOBPIPE_CREDIT_BYTES, the
// sink's inbox), so none may grow with the batch or with the payload size. Fails (exit code 1)
// when a role passes 256 MB or a job is missing. Linux only (reads /proc).
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchEvents, RedisServer, Stack } from '@jobpipe/launcher';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000000' },
    'payload-bytes': { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    memory: { type: 'boolean', default: false },
  },
});
const jobs = Number(values.jobs);
const payloadBytes = Number(values['payload-bytes']);
/** Every role stays under this, whatever the payload size (issue: a 512 MB container holds the role with room to spare). */
const LIMIT_MB = 256;

const redis = values.memory ? undefined : await RedisServer.start();
const stack = await Stack.start({
  command: [process.execPath, resolve(root, 'cli/dist/main.js')],
  pipeline: resolve(root, 'examples/echo/dist/pipeline.js'),
  workers: Number(values.workers),
  env: { JOBPIPE_LOG_LEVEL: 'warn', ...(redis ? { JOBPIPE_REDIS_URL: redis.url } : {}) },
  startVentilator: false,
});
try {
  const events = new BatchEvents(stack.endpoints.eventsConnect);
  await new Promise((r) => setTimeout(r, 200));
  await stack.startVentilator({ JOBPIPE_INPUT: JSON.stringify({ jobs, payloadBytes }), JOBPIPE_BATCH_ID: 'memory' });
  const started = Date.now();
  const summary = await events.completed('memory', 3_600_000);
  const seconds = (Date.now() - started) / 1000;
  await events.close();
  const result = {
    durable: Boolean(redis),
    jobs: summary.jobs,
    payloadBytes,
    failed: summary.failed,
    answerCount: summary.answer.count,
    seconds,
    jobsPerSecond: Math.round(summary.jobs / seconds),
    payloadMbPerSecond: Math.round((summary.jobs * payloadBytes) / seconds / 1e5) / 10,
    peakRssMb: {
      ventilator: Math.round(stack.ventilator.peakRssMb()),
      sink: Math.round(stack.sink.peakRssMb()),
      workers: stack.workers.map((w) => Math.round(w.peakRssMb())),
    },
  };
  console.log(JSON.stringify(result));
  const { ventilator, sink, workers } = result.peakRssMb;
  if (Math.max(ventilator, sink, ...workers) >= LIMIT_MB || summary.answer.count !== jobs) process.exitCode = 1;
} finally {
  await stack.stop();
  await redis?.stop();
}
