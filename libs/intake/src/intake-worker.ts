import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BatchSummary } from '@jobpipe/protocol';
import { intakeQueueName, type BatchRequest } from './queue-name.js';

export interface IntakeOptions {
  redis: Redis;
  prefix: string;
  pipeline: string;
  /**
   * How long a batch stays claimed by a ventilator that stopped renewing its lock (it crashed)
   * before another ventilator takes it over and resumes it, in ms.
   */
  lockMs: number;
  /** Runs one batch to its end: the ventilator's `runBatch`. */
  runBatch: (input: unknown, batchId: string) => Promise<BatchSummary>;
  onError: (error: Error) => void;
}

/**
 * Takes batches from the pipeline's BullMQ queue one at a time and runs them; the BullMQ job
 * completes with the batch summary. A ventilator that crashes mid-batch leaves its BullMQ job
 * locked; after `lockMs` BullMQ's stalled check gives it to the next ventilator, which resumes it.
 */
export function startIntake(options: IntakeOptions): Worker {
  const worker = new Worker(
    intakeQueueName(options.pipeline),
    async (job: Job) => options.runBatch((job.data as BatchRequest).input, job.id!),
    {
      connection: options.redis.duplicate(),
      prefix: options.prefix,
      concurrency: 1,
      lockDuration: options.lockMs,
      stalledInterval: Math.max(1000, Math.floor(options.lockMs / 2)),
      // A batch resumes where it left off, so taking it over again is always safe.
      maxStalledCount: 1_000_000,
    },
  );
  worker.on('error', options.onError);
  return worker;
}
