#!/usr/bin/env node
// RabbitMQ baseline (amqplib): durable queue, persistent messages, publisher confirms (waitForConfirms
// every 1,000), W consumer processes with prefetch 100 and manual acks, each publishing its result
// (persistent) to a durable results queue before acking the job; a collector consumes the results.
// Broker: JOBPIPE_BENCH_AMQP_URL or amqp://guest:guest@127.0.0.1:5672; unreachable -> skipped.
//   node bench/baselines/rabbitmq/run.mjs --jobs N --workers W --payload-bytes B [--rate R] [--warmup-jobs K] [--work-ms M]
import amqp from 'amqplib';
import { coordinator, options } from '../common.mjs';

const o = options();
const c = coordinator('rabbitmq');
const url = process.env.JOBPIPE_BENCH_AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672';

let conn;
try {
  conn = await Promise.race([amqp.connect(url), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000))]);
} catch (err) {
  const where = url.replace(/\/\/[^@/]*@/, '//'); // no credentials in the output
  await c.print({ system: 'rabbitmq', skipped: true, reason: `RabbitMQ at ${where} unreachable: ${err.message}` });
}
c.onCleanup(() => conn.close());

// Unique queue names per run, deleted at the end; x-expires removes them should we be SIGKILLed.
const prefix = `jobpipe-bench-${process.pid}-${Date.now().toString(36)}`;
const shared = { url, jobsQueue: `${prefix}-jobs`, resultsQueue: `${prefix}-results`, jobs: o.jobs, warmupJobs: o.warmupJobs };
const ch = await conn.createChannel();
for (const q of [shared.jobsQueue, shared.resultsQueue]) {
  await ch.assertQueue(q, { durable: true, arguments: { 'x-expires': 10 * 60_000 } });
  c.onCleanup(() => ch.deleteQueue(q));
}

await c.runThroughBroker(import.meta.url, o, shared);
