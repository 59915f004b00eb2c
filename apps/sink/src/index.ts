/**
 * The sink role: `runSink(config)` binds for results and events and records results until
 * SIGTERM. `Sink` is the role itself, for embedding; every option but the pipeline has a default
 * (SINK_DEFAULTS), and a value it cannot run with is a SinkOptionError:
 *
 * ```ts
 * const sink = new Sink({ pipeline: await loadPipeline('./pipeline.js'), resultsBind: 'tcp://*:6558', maxOpenBatches: 100 });
 * await sink.start();
 * ```
 */
import { addressError, loadConfig, redisConnectionFrom, type ConfigOf } from '@jobpipe/config';
import { connectRoleRedis, MemoryResultLedger, redisAnswers, RedisLedger, RedisResultLedger, type ResultLedger } from '@jobpipe/ledger';
import { loadPipeline } from '@jobpipe/pipeline';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
import { createLogger, exitOnSignals, Metrics, startHealthServer } from '@jobpipe/observability';
import { curveServerFrom, endpointError, SocketSecurity } from '@jobpipe/transport';
import { sinkSettings } from './settings.js';
import { Sink } from './sink.js';

export { sinkSettings } from './settings.js';
export { Sink } from './sink.js';
export { compileSinkOptions, SINK_DEFAULTS, withDefaults } from './sink-options.js';
export type { CompiledSinkOptions, SinkOptions, SinkOptionsWithDefaults } from './sink-options.js';
export { SinkOptionError } from './sink-option-error.js';
export { MemoryResultLedger, RedisResultLedger, SeenSet } from '@jobpipe/ledger';
export type { ResultLedger } from '@jobpipe/ledger';

export type SinkConfig = ConfigOf<typeof sinkSettings>;

/** Starts a sink process from its configuration and runs it until a shutdown signal. */
export async function runSink(config: SinkConfig = loadConfig(sinkSettings)): Promise<void> {
  // Checked before anything starts: a bad combination is a one-line ConfigError (exit code 2).
  const redisConnection = redisConnectionFrom(config);
  const security = SocketSecurity.forServer(curveServerFrom(config));
  const logger = createLogger('sink', config.logLevel, {}, config.logFormat);
  const pipeline = await loadPipeline(config.pipeline);
  const metrics = new Metrics();
  metrics.initialize('sink', pipeline.name, [...MALFORMED_REASONS, 'wrong_pipeline', 'unknown_batch']);
  const redis = redisConnection && connectRoleRedis(redisConnection, logger, config.redisPrefix);
  // A pipeline that sets no retries or backoff gets the ledger's defaults (RedisResultLedgerOptions).
  const ledger: ResultLedger = redis
    ? new RedisResultLedger(new RedisLedger(redis, config.redisPrefix), { retries: pipeline.retries, retryBackoffMs: pipeline.retryBackoffMs })
    : new MemoryResultLedger();
  const sink = new Sink({
    pipeline,
    ledger,
    resultsBind: config.resultsBind,
    eventsBind: config.eventsBind,
    maxMessageBytes: config.maxMessageBytes,
    security,
    logger,
    metrics,
  });
  const health = await startHealthServer({
    port: config.metricsPort,
    registry: metrics.registry,
    ready: async () => sink.running && (!redis || (await redisAnswers(redis))),
  }).catch((error: unknown) => {
    throw addressError(error, sinkSettings.metricsPort, `port ${config.metricsPort}`) ?? error;
  });
  await sink.start().catch((error: unknown) => {
    throw endpointError(error, [
      [sinkSettings.resultsBind, config.resultsBind],
      [sinkSettings.eventsBind, config.eventsBind],
    ]);
  });
  logger.info({ pipeline: pipeline.name, metricsPort: health.port, redis: redisConnection?.display }, 'ready');
  exitOnSignals(async () => {
    await sink.stop();
    redis?.disconnect();
    await health.close();
  }, logger);
}
