#!/usr/bin/env node
// BullMQ 6 baseline: a producer adds jobs with addBulk in 1,000s, W worker processes (concurrency 50)
// return {"i","t"} as the job's return value, a collector counts 'completed' events (QueueEvents).
// Redis: a redis-server of our own (no AOF), stopped at the end; the queue is obliterated first.
//   node bench/baselines/bullmq/run.mjs --jobs N --workers W --payload-bytes B [--rate R] [--work-ms M]
import { Queue } from 'bullmq';
import { RedisServer } from '@jobpipe/launcher';
import { beside, coordinator, options } from '../common.mjs';
import { queueOptions } from './connection.mjs';

const o = options();
const c = coordinator('bullmq');
const file = (name) => beside(import.meta.url, name);

const redis = await RedisServer.start({ appendOnly: false });
c.onCleanup(() => redis.stop());
const shared = { port: redis.port, queue: `bench-${process.pid}`, jobs: o.jobs };
const queue = new Queue(shared.queue, queueOptions(shared));
c.onCleanup(async (code) => {
  if (code !== 0) return; // failed or interrupted (Ctrl-C may have stopped redis-server too): it goes anyway
  await queue.obliterate({ force: true });
  await queue.close();
});

const collector = c.spawn('collector', file('collector.mjs'), shared);
const workers = Array.from({ length: o.workers }, (_, k) => c.spawn(`w${k + 1}`, file('worker.mjs'), { ...shared, workMs: o.workMs }));
const producer = c.spawn('producer', file('producer.mjs'), { ...shared, payloadBytes: o.payloadBytes, rate: o.rate });
await Promise.all([collector, producer, ...workers].map((kid) => c.message(kid, 'ready')));
producer.proc.send({ type: 'go' });
const [{ firstAt }, summary] = await Promise.all([c.message(producer, 'produced', 3_600_000), c.results(collector, o.jobs)]);
c.finish({ jobs: o.jobs, firstAt, summary });
