#!/usr/bin/env node
// BullMQ 6 baseline: a producer adds jobs with addBulk in 1,000s, W worker processes (concurrency 50)
// return {"i","t"} as the job's return value, a collector counts 'completed' events (QueueEvents).
// Redis: a redis-server of our own (no AOF), stopped at the end; the queue is obliterated first.
//   node bench/baselines/bullmq/run.mjs --jobs N --workers W --payload-bytes B [--rate R] [--warmup-jobs K] [--work-ms M]
import { Queue } from 'bullmq';
import { RedisServer } from '@jobpipe/launcher';
import { coordinator, options } from '../common.mjs';
import { queueOptions } from './connection.mjs';

const o = options();
const c = coordinator('bullmq');

const redis = await RedisServer.start({ appendOnly: false });
c.onCleanup(() => redis.stop());
const shared = { port: redis.port, queue: `bench-${process.pid}`, jobs: o.jobs, warmupJobs: o.warmupJobs };
const queue = new Queue(shared.queue, queueOptions(shared));
c.onCleanup(async (code) => {
  if (code !== 0) return; // failed or interrupted (Ctrl-C may have stopped redis-server too): it goes anyway
  await queue.obliterate({ force: true });
  await queue.close();
});

await c.runThroughBroker(import.meta.url, o, shared);
