// Collector: counts 'completed' events and their return values (QueueEvents, from the stream's start).
import { QueueEvents } from 'bullmq';
import { childRole, Results } from '../common.mjs';
import { connection } from './connection.mjs';

const { config, send } = childRole();
// lastEventId '0': read the (fresh) events stream from its start, so nothing is missed before XREAD.
const events = new QueueEvents(config.queue, { connection: connection(config), lastEventId: '0' });
const results = new Results(config.jobs, config.warmupJobs);
const progress = results.reportProgress(send);
events.on('completed', ({ returnvalue }) => {
  const r = typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue;
  if (results.add(r?.i, r?.t)) {
    clearInterval(progress);
    send({ type: 'done', ...results.summary() });
  }
});
events.on('failed', ({ jobId, failedReason }) => process.stderr.write(`bullmq: job ${jobId} failed: ${failedReason}\n`));
await events.waitUntilReady();
send({ type: 'ready' });
