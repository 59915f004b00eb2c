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
}

const BATCH_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** Throws unless `id` can be a batch id (it becomes part of Redis keys and job ids). */
export function checkBatchId(id: string): string {
  if (!BATCH_ID.test(id)) throw new TypeError(`batch id ${JSON.stringify(id)} must be 1-100 letters, digits, '.', '_' or '-'`);
  return id;
}
