// Producer: confirm channel, persistent messages, waitForConfirms after every 1,000.
import { once } from 'node:events';
import amqp from 'amqplib';
import { childRole, payloads, produce } from '../common.mjs';

const { config, send, message } = childRole();
const conn = await amqp.connect(config.url);
const ch = await conn.createConfirmChannel();
send({ type: 'ready' });
await message('go');

const make = payloads(config.jobs, config.payloadBytes).string;
let unconfirmed = 0;
const firstAt = await produce(config.jobs, config.rate, 1000, async (from, to) => {
  for (let i = from; i < to; i++) {
    if (!ch.sendToQueue(config.jobsQueue, Buffer.from(make(i)), { persistent: true })) await once(ch, 'drain');
    if (++unconfirmed === 1000) {
      await ch.waitForConfirms();
      unconfirmed = 0;
    }
  }
});
await ch.waitForConfirms();
send({ type: 'produced', firstAt });
