/**
 * Starts jobpipe roles as OS processes on loopback and follows their batches: what the demo, the
 * tests, the chaos harness and the benchmarks share.
 *
 * ```ts
 * const stack = await Stack.start({ command: [process.execPath, cliPath], pipeline, workers: 3 });
 * const events = new BatchEvents(stack.endpoints.eventsConnect);
 * await stack.startVentilator({ JOBPIPE_INPUT: '{"jobs":1000}', JOBPIPE_BATCH_ID: 'b1' });
 * const summary = await events.completed('b1', 60_000);
 * await stack.stop();
 * ```
 */
export { freePort } from './free-port.js';
export { RoleProcess } from './role-process.js';
export type { Role, RoleProcessOptions, LogLine } from './role-process.js';
export { Stack } from './stack.js';
export type { StackOptions, StackEndpoints } from './stack.js';
export { BatchEvents } from './batch-events.js';
export type { ProgressEvent } from './batch-events.js';
export { RedisServer, redisServerAvailable } from './redis-server.js';
export { RedisSentinelSet } from './redis-sentinel.js';
export type { RedisSentinelSetOptions } from './redis-sentinel.js';
export { runKeys } from './run-keys.js';
export { pollUntil } from './poll.js';
export type { RedisServerOptions, RedisServerTls, RespReply } from './redis-server.js';
