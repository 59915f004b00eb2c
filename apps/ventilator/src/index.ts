/**
 * The ventilator role: `runVentilator(config)` binds for workers and runs batches (submitted ones
 * from the intake queue, or one given by --input) until SIGTERM. `Ventilator` is the role itself.
 */
import { loadConfig, redisConnectionFrom, type ConfigOf } from '@jobpipe/config';
import { startIntake } from '@jobpipe/intake';
import { connectRoleRedis, redisAnswers, RedisLedger } from '@jobpipe/ledger';
import { loadPipeline } from '@jobpipe/pipeline';
import { MALFORMED_REASONS } from '@jobpipe/protocol';
import { createLogger, exitOnSignals, Metrics, startHealthServer } from '@jobpipe/observability';
import { MemoryDispatchLedger, RedisDispatchLedger, type DispatchLedger } from './dispatch-ledger.js';
import { curveServerFrom, SocketSecurity } from '@jobpipe/transport';
import { ventilatorSettings } from './settings.js';
import { Ventilator } from './ventilator.js';

export { ventilatorSettings } from './settings.js';
export { Ventilator, newBatchId } from './ventilator.js';
export type { VentilatorOptions } from './ventilator.js';
export { MemoryDispatchLedger, RedisDispatchLedger } from './dispatch-ledger.js';
export type { DispatchLedger, PendingJob } from './dispatch-ledger.js';

export type VentilatorConfig = ConfigOf<typeof ventilatorSettings>;

/** Starts a ventilator process from its configuration and runs it until a shutdown signal. */
export async function runVentilator(config: VentilatorConfig = loadConfig(ventilatorSettings)): Promise<void> {
  // Checked before anything starts: a bad combination is a one-line ConfigError (exit code 2).
  const redisConnection = redisConnectionFrom(config);
  const security = SocketSecurity.forServer(curveServerFrom(config));
  const logger = createLogger('ventilator', config.logLevel, {}, config.logFormat);
  const pipeline = await loadPipeline(config.pipeline);
  const metrics = new Metrics();
  metrics.initialize('ventilator', pipeline.name, MALFORMED_REASONS);
  const redis = redisConnection && connectRoleRedis(redisConnection, logger);
  const ledger: DispatchLedger = redis
    ? new RedisDispatchLedger(new RedisLedger(redis, config.redisPrefix), pipeline.name, config.leaseMs, config.maxAttempts)
    : new MemoryDispatchLedger(config.leaseMs, config.maxAttempts);
  if (!redis) logger.warn('persistence is off: no JOBPIPE_REDIS_URL, so in-flight jobs live in this process only');
  const ventilator = new Ventilator({
    pipeline,
    ledger,
    jobsBind: config.jobsBind,
    resultsConnect: config.resultsConnect,
    eventsConnect: config.eventsConnect,
    maxInFlight: config.maxInFlight,
    maxJobsPerMessage: config.maxJobsPerMessage,
    leaseMs: config.leaseMs,
    heartbeatMs: config.heartbeatMs,
    maxMessageBytes: config.maxMessageBytes,
    security,
    logger,
    metrics,
  });
  await ventilator.start();
  const intake = redis
    ? startIntake({
        redis,
        prefix: config.redisPrefix,
        pipeline: pipeline.name,
        lockMs: config.intakeLockMs,
        runBatch: async (input, batchId) => {
          const summary = await ventilator.runBatch(input, batchId);
          logger.info({ batch: batchId, summary }, 'batch completed');
          return summary;
        },
        onError: (error) => logger.warn({ err: error.message }, 'intake error'),
      })
    : undefined;
  await redis?.sadd(`${config.redisPrefix}:pipelines`, pipeline.name);
  const health = await startHealthServer({
    port: config.metricsPort,
    registry: metrics.registry,
    ready: async () => ventilator.running && (!redis || (await redisAnswers(redis))),
  });
  logger.info({ pipeline: pipeline.name, metricsPort: health.port, redis: redisConnection?.display }, 'ready');
  exitOnSignals(async () => {
    // Forced: a running batch stays claimed and is resumed by the next ventilator.
    await intake?.close(true);
    await ventilator.stop();
    redis?.disconnect();
    await health.close();
  }, logger);
  if (config.input !== undefined) {
    if (config.minWorkers > 0) logger.info({ minWorkers: config.minWorkers }, 'waiting for workers before the batch');
    while (ventilator.running && ventilator.workersConnected < config.minWorkers) await new Promise((resolve) => setTimeout(resolve, 20));
    ventilator.runBatch(config.input, config.batchId).then(
      (summary) => logger.info({ batch: summary.batch, summary }, 'batch completed'),
      (error: Error) => logger.error({ err: error }, 'batch failed'),
    );
  }
}
