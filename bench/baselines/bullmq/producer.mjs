// Producer: addBulk in batches of 1,000 (at --rate: the jobs due every millisecond), each awaited.
import { Queue } from 'bullmq';
import { childRole, payloads, produce } from '../common.mjs';
import { queueOptions } from './connection.mjs';

const { config, send, message } = childRole();
const queue = new Queue(config.queue, queueOptions(config));
await queue.waitUntilReady();
send({ type: 'ready' });
await message('go');

const make = payloads(config.jobs, config.payloadBytes).object;
const firstAt = await produce(config.jobs, config.rate, 1000, async (from, to) => {
  const batch = [];
  for (let i = from; i < to; i++) batch.push({ name: 'job', data: make(i) });
  await queue.addBulk(batch);
});
send({ type: 'produced', firstAt });
