/**
 * Durable intake: batches go into a BullMQ queue per pipeline and wait there, even while every
 * jobpipe process is down, until a ventilator takes them.
 *
 * ```ts
 * const client = new JobpipeClient(connectRedis(url), 'jobpipe');
 * const batch = await client.submit(pipeline, { limit: 1_000_000 });
 * const summary = await client.waitForBatch(pipeline.name, batch);
 * ```
 */
export { JobpipeClient, SubmissionError, validateInput } from './submit.js';
export type { SubmitOptions, BatchState, BatchStatusReport, IntakeState } from './submit.js';
export { SingleJobsClient } from './single-jobs-client.js';
export type { AddOptions, BulkJob, JobReport, JobState } from './single-jobs-client.js';
export { startIntake, intakeTimings } from './intake-worker.js';
export { QueueDepth } from './queue-depth.js';
export type { Intake, IntakeOptions, IntakeLogger, IntakeTimings } from './intake-worker.js';
export { intakeQueueName, checkBatchId } from './queue-name.js';
export type { BatchRequest } from './queue-name.js';
