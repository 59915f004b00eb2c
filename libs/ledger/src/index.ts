/**
 * The durable ledger: in-flight jobs with leases, results recorded exactly once, dead letters and
 * batch counters, in Redis, through Lua scripts that each handle a whole pack of jobs.
 *
 * ```ts
 * const ledger = new RedisLedger(connectRedis('redis://127.0.0.1:6379'), 'jobpipe');
 * await ledger.beginBatch('b1', 'primes');
 * await ledger.admit('b1', [{ seq: 0, attempt: 1, payloadJson: '{"from":0,"to":10}' }], Date.now() + 30_000);
 * ```
 */
export { RedisLedger, RecordOutcome } from './redis-ledger.js';
export type { LedgerJob, DueJob, RecordResult, BatchInfo, BatchStatus, DeadLetter } from './redis-ledger.js';
export { LedgerKeys } from './keys.js';
export type { BatchKeys } from './keys.js';
export { registerScripts, SCRIPTS_VERSION } from './scripts.js';
export { connectRedis, connectRoleRedis, redisAnswers, redactUrl, redisOptionsFrom, isRedisRefusal, describeRedisError, redisErrorReason, isRedisConnectionError, RedisRefusedError, RedisUnreachableError } from './redis-connection.js';
export type { RedisConnectionSpec, RedisRefusal } from './redis-connection.js';
