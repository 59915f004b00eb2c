// Collector: consumes the results queue (prefetch 1,000, manual acks) and checks every job came back.
import amqp from 'amqplib';
import { childRole, Results } from '../common.mjs';

const { config, send } = childRole();
const conn = await amqp.connect(config.url);
const ch = await conn.createChannel();
await ch.prefetch(1000);
const results = new Results(config.jobs, config.warmupJobs);
const progress = results.reportProgress(send);
await ch.consume(
  config.resultsQueue,
  (msg) => {
    const r = JSON.parse(msg.content);
    ch.ack(msg);
    if (results.add(r.i, r.t)) {
      clearInterval(progress);
      send({ type: 'done', ...results.summary() });
    }
  },
  { noAck: false },
);
send({ type: 'ready' });
