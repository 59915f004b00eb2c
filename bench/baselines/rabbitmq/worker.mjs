// Consumer: prefetch 100, manual acks; publishes the result (persistent) and then acks the job.
import amqp from 'amqplib';
import { childRole, spin } from '../common.mjs';

const { config, send } = childRole();
const conn = await amqp.connect(config.url);
const ch = await conn.createChannel();
await ch.prefetch(100);
await ch.consume(
  config.jobsQueue,
  (msg) => {
    const job = JSON.parse(msg.content);
    spin(config.workMs);
    ch.sendToQueue(config.resultsQueue, Buffer.from(JSON.stringify({ i: job.i, t: job.t })), { persistent: true });
    ch.ack(msg);
  },
  { noAck: false },
);
send({ type: 'ready' });
