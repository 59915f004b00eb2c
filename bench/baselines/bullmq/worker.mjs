// Worker: concurrency 50; the handler's return value is the result.
import { Worker } from 'bullmq';
import { childRole, spin } from '../common.mjs';
import { connection } from './connection.mjs';

const { config, send } = childRole();
const worker = new Worker(
  config.queue,
  async (job) => {
    spin(config.workMs);
    return { i: job.data.i, t: job.data.t };
  },
  { connection: connection(config), concurrency: 50 },
);
worker.on('failed', (job, err) => process.stderr.write(`bullmq worker: job ${job?.id} failed: ${err.message}\n`));
await worker.waitUntilReady();
send({ type: 'ready' });
