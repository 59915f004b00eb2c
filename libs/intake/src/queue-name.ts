import { LedgerKeys } from '@jobpipe/ledger';

/** The BullMQ queue that holds a pipeline's submitted batches: `{intake-<pipeline>}` (see LedgerKeys.intakeQueue). */
export function intakeQueueName(pipeline: string): string {
  return LedgerKeys.intakeQueue(pipeline);
}

/** What a queued batch carries. */
export interface BatchRequest {
  pipeline: string;
  input: unknown;
  submittedAt: number;
  /**
   * The W3C trace context the batch runs in: the submission's span, or the `traceparent` it was
   * given (SubmitOptions.traceparent). The ventilator makes its batch's span a child of it.
   */
  traceparent?: string;
  /** The W3C `tracestate` that goes with it. */
  tracestate?: string;
  /**
   * The priority asked for, if any. BullMQ's own cannot tell LOWEST_PRIORITY asked for from none:
   * a batch without one queues there too.
   */
  priority?: number;
}

const BATCH_ID = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * The lowest priority, BullMQ's (it takes 0, none, to 2,097,151): where a batch submitted without
 * one queues, so that it comes after every batch with a higher one. Priorities run from 1 to this.
 */
export const LOWEST_PRIORITY = 2_097_151;

/** What is wrong with `priority`, or undefined when it is a whole number from 1 (the highest) to LOWEST_PRIORITY. */
export function priorityProblem(priority: unknown): string | undefined {
  if (Number.isInteger(priority) && (priority as number) >= 1 && (priority as number) <= LOWEST_PRIORITY) return undefined;
  return `priority must be a whole number from 1 (the highest) to ${LOWEST_PRIORITY}, not ${String(priority)}`;
}

/**
 * The names of BullMQ's own keys of a queue (its QueueKeys): a batch id is the id of its intake
 * job, whose key is `<queue>:<id>`, so a batch named `wait` would write its job over the queue's
 * wait list (a WRONGTYPE error, or a broken queue).
 */
const QUEUE_KEY_NAMES = new Set([
  'active',
  'wait',
  'waiting-children',
  'paused',
  'id',
  'delayed',
  'prioritized',
  'stalled-check',
  'completed',
  'failed',
  'stalled',
  'repeat',
  'limiter',
  'meta',
  'events',
  'pc',
  'marker',
  'de',
  'metrics',
]);

/** Throws unless `id` can be a batch id (it becomes part of Redis keys and job ids). */
export function checkBatchId(id: string): string {
  if (!BATCH_ID.test(id)) throw new TypeError(`batch id ${JSON.stringify(id)} must be 1-100 letters, digits, '.', '_' or '-'`);
  // `.` and `..` walk a path: an HTTP client or proxy rewrites /v1/batches/.. before it is sent.
  if (/^\.+$/.test(id)) throw new TypeError(`batch id ${JSON.stringify(id)} must not be dots only`);
  if (QUEUE_KEY_NAMES.has(id)) throw new TypeError(`batch id ${JSON.stringify(id)} is the name of one of the intake queue's own keys: choose another`);
  return id;
}

/** Whether `id` can be a batch id (checkBatchId, without the throw). */
export function isBatchId(id: string): boolean {
  try {
    checkBatchId(id);
    return true;
  } catch {
    return false;
  }
}
