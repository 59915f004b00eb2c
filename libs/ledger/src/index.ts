/**
 * The ledger: where jobpipe keeps the truth about jobs. Two sides, each in memory (persistence
 * off) or in Redis (persistence on), held to the same rules by one contract suite (src/contract):
 * - the dispatch side (`DispatchLedger`), the ventilator's: write-ahead, leases, redelivery with
 *   attempts, dead letters, resumption;
 * - the result side (`ResultLedger`), the sink's: each result recorded exactly once, retries of
 *   failures, batch counters and completion.
 * In Redis both sides share one `RedisLedger`: in-flight jobs with leases, results, dead letters
 * and batch counters, through Lua scripts that each handle a whole pack of jobs.
 *
 * ```ts
 * const ledger = new RedisLedger(connectRedis('redis://127.0.0.1:6379'), 'jobpipe');
 * const dispatch = new RedisDispatchLedger(ledger, { pipeline: 'primes', leaseMs: 60_000, maxAttempts: 5 });
 * await dispatch.begin('b1', 'primes');
 * await dispatch.admit('b1', [{ batch: 'b1', seq: 0, attempt: 1, payloadJson: '{"from":0,"to":10}' }], Date.now() + 60_000, true);
 * const results = new RedisResultLedger(ledger, { retries: 2 });
 * ```
 */
export type { DispatchLedger, PendingJob, InFlightJob, LocalInFlight, Requeue } from './dispatch-ledger.js';
export { MemoryDispatchLedger } from './memory-dispatch-ledger.js';
export type { MemoryDispatchLedgerOptions } from './memory-dispatch-ledger.js';
export { RedisDispatchLedger } from './redis-dispatch-ledger.js';
export type { RedisDispatchLedgerOptions } from './redis-dispatch-ledger.js';
export type { ResultLedger, BatchCounts, Recording } from './result-ledger.js';
export { MemoryResultLedger, MEMORY_DONE_BATCHES_KEPT } from './memory-result-ledger.js';
export type { MemoryResultLedgerOptions } from './memory-result-ledger.js';
export { RedisResultLedger } from './redis-result-ledger.js';
export type { RedisResultLedgerOptions } from './redis-result-ledger.js';
export { RecordOutcome } from './record-outcome.js';
export type { RecordOutcomeCode } from './record-outcome.js';
export { SeenSet } from './seen-set.js';
export { CLOCK_TICK_MS, LedgerClock, startLedgerClock } from './ledger-clock.js';
export { RedisLedger, ReplicasBehindError, DEFAULT_RETENTION } from './redis-ledger.js';
export type {
  LedgerJob,
  DueJob,
  RecordResult,
  BatchAccount,
  BatchInfo,
  BatchStatus,
  CancelResult,
  DeadLetter,
  Retention,
  ResultsPage,
} from './redis-ledger.js';
export { LedgerKeys, recordKeys, completeKeys, retryDeadKeys, cancelKeys } from './keys.js';
export type { BatchKeys } from './keys.js';
export { registerScripts, SCRIPTS_VERSION } from './scripts.js';
export type { RedisClient } from './scripts.js';
export {
  connectRedis,
  connectFrom,
  connectRoleRedis,
  duplicateClient,
  redisAnswers,
  redactUrl,
  redisOptionsFrom,
  isRedisRefusal,
  describeRedisError,
  redisErrorReason,
  isRedisConnectionError,
  RedisRefusedError,
  RedisUnreachableError,
} from './redis-connection.js';
export type { RedisConnectionSpec, RedisRefusal } from './redis-connection.js';
export { removeKeysUnder } from './prefix-keys.js';
export { bucketPipeline, JobStream, parseJobId, readOutcomes, VENTILATORS_GROUP } from './job-stream.js';
export type { AddedJob, JobOutcome, JobStreamOptions, NewJob, StreamEntry } from './job-stream.js';
export type { JobStreamKeys } from './keys.js';
export { PipelineControls, CANCEL_NOTICE_MS, cancelNoticeKey } from './pipeline-controls.js';
export type { CancelNotice, PipelineControlState } from './pipeline-controls.js';
export { readWorkerBoards } from './worker-board.js';
export type { BoardWorker, WorkerBoard } from './worker-board.js';
