import { Queue } from 'bullmq';
import type { RedisClient } from '@jobpipe/ledger';
import { intakeQueueName } from './queue-name.js';

/**
 * How many submitted batches of a pipeline wait for a ventilator (waiting, prioritized or
 * delayed in its intake queue), read with BullMQ's own counts.
 */
export class QueueDepth {
  readonly #queue: Queue;

  constructor(redis: RedisClient, prefix: string, pipeline: string) {
    this.#queue = new Queue(intakeQueueName(pipeline), { connection: redis, prefix });
    // Errors come back from the calls; without a listener BullMQ prints them too.
    this.#queue.on('error', () => {});
  }

  async batchesQueued(): Promise<number> {
    const counts = await this.#queue.getJobCounts('waiting', 'prioritized', 'delayed');
    return (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0);
  }

  close(): Promise<void> {
    return this.#queue.close();
  }
}
